// Helpers of the Multi-Cluster Services journeys: a small handle per member cluster over the JSON client, and
// builders for the objects the tests create (Deployments and StatefulSets that kwok runs, Services, exports).
import fs from 'node:fs';
import type { KubernetesObject, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { R, type ResourceType } from '../../../operator/src/kube/resources.js';
import type { ServiceExport, ServiceImport } from '../../../operator/src/api/index.js';
import type { Condition } from '../../../operator/src/util/conditions.js';
import { waitFor } from '../lib/cluster.js';
import { stopOperatorProcess, type OperatorProcess } from '../lib/operator.js';

export type Export = ServiceExport & KubernetesObject;
export type Import = ServiceImport & KubernetesObject;

export const LABEL_SERVICE = 'multicluster.kubernetes.io/service-name';
export const LABEL_SOURCE = 'multicluster.kubernetes.io/source-cluster';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'mcs-controller.mizzen.io';

export const serviceExportV1beta1: ResourceType = { ...R.serviceExport, apiVersion: 'multicluster.x-k8s.io/v1beta1' };
export const serviceImportV1beta1: ResourceType = { ...R.serviceImport, apiVersion: 'multicluster.x-k8s.io/v1beta1' };

/** One member cluster as the tests see it: its id, kubeconfig and a client with its own field manager. */
export class Member {
  private constructor(
    readonly id: string,
    readonly kubeconfig: string,
    readonly client: KubeClient,
  ) {}

  static async open(id: string, kubeconfig: string): Promise<Member> {
    return new Member(id, kubeconfig, await KubeClient.create(KubeClient.loadConfig(kubeconfig), 'mcs-e2e'));
  }

  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.client.apply(obj);
  }

  /** Creates the namespace, first waiting for an earlier run's copy of it to finish terminating. */
  async ensureNamespace(name: string): Promise<void> {
    await waitFor(`namespace ${name} to finish terminating`, async () => !(await this.client.get(R.namespace, name))?.metadata?.deletionTimestamp, 180_000, 500);
    await this.client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  getImport(ns: string, name: string, t: ResourceType = R.serviceImport): Promise<Import | undefined> {
    return this.client.get<Import>(t, name, ns);
  }

  getExport(ns: string, name: string, t: ResourceType = R.serviceExport): Promise<Export | undefined> {
    return this.client.get<Export>(t, name, ns);
  }

  getService(ns: string, name: string): Promise<V1Service | undefined> {
    return this.client.get<V1Service>(R.service, name, ns);
  }

  /** The derived Services of an import (found by our labels, not by name). */
  async derivedServices(ns: string, name: string): Promise<V1Service[]> {
    return (await this.client.list<V1Service>(R.service, { namespace: ns, labelSelector: `mizzen.io/mcs-object=derived-service,${LABEL_SERVICE}=${name}` })).items;
  }

  /** The imported slices of a service, optionally only those from one source cluster. */
  async importedSlices(ns: string, name: string, source?: string): Promise<V1EndpointSlice[]> {
    const selector = `${LABEL_SERVICE}=${name}${source ? `,${LABEL_SOURCE}=${source}` : ''}`;
    return (await this.client.list<V1EndpointSlice>(R.endpointSlice, { namespace: ns, labelSelector: selector })).items;
  }

  /** The slices the EndpointSlice controller keeps for a local Service. */
  async sourceSlices(ns: string, name: string): Promise<V1EndpointSlice[]> {
    return (await this.client.list<V1EndpointSlice>(R.endpointSlice, { namespace: ns, labelSelector: `kubernetes.io/service-name=${name},endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io` })).items;
  }

  async scale(ns: string, name: string, replicas: number): Promise<void> {
    await this.client.mergePatch(R.deployment, name, ns, { spec: { replicas } });
  }

  close(): void {
    this.client.close();
  }
}

/** Ready endpoint addresses of slices, sorted. */
export function addresses(slices: readonly V1EndpointSlice[]): string[] {
  return slices
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false)
    .flatMap((e) => e.addresses)
    .sort();
}

export function condition(obj: { status?: { conditions?: Condition[] } } | undefined, type: string): Condition | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

export function isTrue(obj: { status?: { conditions?: Condition[] } } | undefined, type: string): boolean {
  return condition(obj, type)?.status === 'True';
}

// ---- builders ------------------------------------------------------------------------------------------------

const pause = [{ name: 'app', image: 'registry.k8s.io/pause:3.10', ports: [{ containerPort: 8080, name: 'http' }] }];

export function deployment(ns: string, name: string, replicas: number): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: pause } } },
  } as KubernetesObject;
}

/** A StatefulSet whose pods get hostnames under the headless Service of the same name. */
export function statefulSet(ns: string, name: string, replicas: number): KubernetesObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      serviceName: name,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: pause } },
    },
  } as KubernetesObject;
}

export interface PortSpec {
  name?: string;
  port: number;
  targetPort?: number;
}

export type ServiceSpec = Omit<NonNullable<V1Service['spec']>, 'ports'> & { ports?: PortSpec[] };

export function service(ns: string, name: string, spec: Partial<ServiceSpec> = {}, labels: Record<string, string> = { app: name }): V1Service {
  const ports = (spec.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }]).map((p) => ({ protocol: 'TCP', ...p }));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels },
    spec: { selector: { app: name }, ...spec, ports },
  };
}

export function serviceExport(ns: string, name: string, spec?: ServiceExport['spec'], version: 'v1alpha1' | 'v1beta1' = 'v1alpha1'): Export {
  return { apiVersion: `multicluster.x-k8s.io/${version}`, kind: 'ServiceExport', metadata: { name, namespace: ns }, ...(spec ? { spec } : {}) } as Export;
}

/** A member Secret: the peer's kubeconfig and id, labelled for mizzen's membership. */
export function memberSecret(ns: string, peer: { id: string; kubeconfig: string }): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `member-${peer.id}`, namespace: ns, labels: { 'mizzen.io/cluster-member': 'true' } },
    type: 'Opaque',
    data: { kubeconfig: fs.readFileSync(peer.kubeconfig).toString('base64'), 'cluster-id': Buffer.from(peer.id).toString('base64') },
  } as KubernetesObject;
}

/** SIGTERM, then SIGKILL if the operator has not exited within `graceMs`. */
export async function stopOperator(op: OperatorProcess | undefined, graceMs = 20_000): Promise<void> {
  if (!op) return;
  const kill = setTimeout(() => op.child.kill('SIGKILL'), graceMs);
  await stopOperatorProcess(op);
  clearTimeout(kill);
}
