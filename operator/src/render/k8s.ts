// components.*.k8s: the Kubernetes settings a user may give a component, applied to its freshly rendered
// workload (Deployment or DaemonSet) and Service. Scalars and whole sub-objects replace what the renderer chose
// (resources, nodeSelector, tolerations, affinity, probes); env merges by name; podAnnotations and
// serviceAnnotations add to the rendered ones; service is laid over the Service spec with the overlay merge.
// hpaSpec and podDisruptionBudget are accepted but not rendered (mizzen renders no HPA or PDB).
import { InvalidSpecError } from './errors.js';
import { clone, isRecord } from './json.js';
import { overlay } from './merge.js';
import type { JsonObject, K8sSettings, KubernetesObject } from './types.js';

type Container = JsonObject & { name: string; env?: JsonObject[] };

function podSpecOf(workload: KubernetesObject): JsonObject {
  const spec = workload.spec as JsonObject;
  const template = spec.template as JsonObject;
  return template.spec as JsonObject;
}

function templateMetaOf(workload: KubernetesObject): JsonObject & { annotations?: Record<string, string> } {
  return ((workload.spec as JsonObject).template as JsonObject).metadata as JsonObject;
}

function containerOf(workload: KubernetesObject, name: string): Container {
  const containers = podSpecOf(workload).containers as Container[];
  const found = containers.find((c) => c.name === name);
  if (!found) throw new Error(`bug: ${workload.kind} ${workload.metadata.name} has no container ${name}`);
  return found;
}

function expectRecord(value: unknown, field: string): JsonObject {
  if (!isRecord(value)) throw new InvalidSpecError(field, `must be an object, not ${JSON.stringify(value)}`);
  return value;
}

function expectList(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new InvalidSpecError(field, `must be a list, not ${JSON.stringify(value)}`);
  return value;
}

function expectStringMap(value: unknown, field: string): Record<string, string> {
  const map = expectRecord(value, field);
  for (const [k, v] of Object.entries(map)) {
    if (typeof v !== 'string') throw new InvalidSpecError(`${field}.${k}`, `must be a string, not ${JSON.stringify(v)}`);
  }
  return map as Record<string, string>;
}

/** Sets or replaces env vars by name; new names are appended in the order given. */
export function mergeEnv(current: readonly JsonObject[] | undefined, extra: unknown, field: string): JsonObject[] {
  const out = [...(current ?? [])].map((e) => clone(e));
  expectList(extra, field).forEach((entry, i) => {
    const e = expectRecord(entry, `${field}[${i}]`);
    if (typeof e.name !== 'string' || e.name === '') throw new InvalidSpecError(`${field}[${i}].name`, 'is required');
    const at = out.findIndex((x) => x.name === e.name);
    if (at >= 0) out[at] = clone(e);
    else out.push(clone(e));
  });
  return out;
}

function applyReplicas(workload: KubernetesObject, value: unknown, field: string): void {
  if (!Number.isInteger(value) || (value as number) < 0) throw new InvalidSpecError(field, `must be a non-negative integer, not ${JSON.stringify(value)}`);
  if (workload.kind !== 'Deployment') throw new InvalidSpecError(field, `does not apply to a ${workload.kind}, which runs one pod per node`);
  (workload.spec as JsonObject).replicas = value;
}

function applyStrategy(workload: KubernetesObject, value: unknown, field: string): void {
  const key = workload.kind === 'DaemonSet' ? 'updateStrategy' : 'strategy';
  (workload.spec as JsonObject)[key] = clone(expectRecord(value, field));
}

/** Applies k8s settings to a workload's pod template and its main container. `field` is e.g. components.pilot.k8s. */
// The settings are independent assignments; splitting them further would only hide the list.
// eslint-disable-next-line complexity
export function applyWorkloadSettings(workload: KubernetesObject, k8s: K8sSettings, containerName: string, field: string): void {
  const pod = podSpecOf(workload);
  const container = containerOf(workload, containerName);
  if (k8s.replicaCount !== undefined) applyReplicas(workload, k8s.replicaCount, `${field}.replicaCount`);
  if (k8s.strategy !== undefined) applyStrategy(workload, k8s.strategy, `${field}.strategy`);
  if (k8s.resources !== undefined) container.resources = clone(expectRecord(k8s.resources, `${field}.resources`));
  if (k8s.env !== undefined) container.env = mergeEnv(container.env, k8s.env, `${field}.env`);
  if (k8s.imagePullPolicy !== undefined) container.imagePullPolicy = k8s.imagePullPolicy;
  if (k8s.readinessProbe !== undefined) container.readinessProbe = clone(expectRecord(k8s.readinessProbe, `${field}.readinessProbe`));
  if (k8s.volumeMounts !== undefined) {
    container.volumeMounts = [...((container.volumeMounts as unknown[]) ?? []), ...clone(expectList(k8s.volumeMounts, `${field}.volumeMounts`))];
  }
  if (k8s.volumes !== undefined) pod.volumes = [...((pod.volumes as unknown[]) ?? []), ...clone(expectList(k8s.volumes, `${field}.volumes`))];
  if (k8s.nodeSelector !== undefined) pod.nodeSelector = clone(expectStringMap(k8s.nodeSelector, `${field}.nodeSelector`));
  if (k8s.tolerations !== undefined) pod.tolerations = clone(expectList(k8s.tolerations, `${field}.tolerations`));
  if (k8s.affinity !== undefined) pod.affinity = clone(expectRecord(k8s.affinity, `${field}.affinity`));
  if (k8s.priorityClassName !== undefined) pod.priorityClassName = k8s.priorityClassName;
  if (k8s.securityContext !== undefined) pod.securityContext = clone(expectRecord(k8s.securityContext, `${field}.securityContext`));
  if (k8s.podAnnotations !== undefined) {
    const meta = templateMetaOf(workload);
    meta.annotations = { ...(meta.annotations ?? {}), ...expectStringMap(k8s.podAnnotations, `${field}.podAnnotations`) };
  }
}

/** Applies k8s.service (laid over the Service spec; lists such as ports are replaced) and k8s.serviceAnnotations. */
export function applyServiceSettings(service: KubernetesObject, k8s: K8sSettings, field: string): void {
  if (k8s.service !== undefined) service.spec = overlay(service.spec, expectRecord(k8s.service, `${field}.service`));
  if (k8s.serviceAnnotations !== undefined) {
    const annotations = expectStringMap(k8s.serviceAnnotations, `${field}.serviceAnnotations`);
    service.metadata.annotations = { ...(service.metadata.annotations ?? {}), ...annotations };
  }
}
