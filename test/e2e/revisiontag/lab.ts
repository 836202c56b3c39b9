// A canary-upgrade lab on a real cluster, shared by the e2e suite and scripts/bench/tags: injector receivers for
// each revision, IstioOperators installing those revisions as external control planes whose injection URL is
// the receiver, and the caBundle patched into each revision's webhook the way istiod patches its own.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { ApiError } from '../../../operator/src/kube/errors.js';
import { R, resourcePath } from '../../../operator/src/kube/resources.js';
import { injectedRevision, type WebhookConfiguration } from '../../../operator/src/render/revisiontag/index.js';
import { repoRoot, waitFor } from '../lib/cluster.js';
import { InjectorReceiver, makePki, type Pki } from './receiver.js';

const exec = promisify(execFile);

export type Mwc = WebhookConfiguration & KubernetesObject;
export type Pod = V1Pod & KubernetesObject;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/mizzen ARGS` as a real process; never rejects on a non-zero exit. */
export async function mizzen(kubeconfig: string, args: string[], timeoutMs = 120_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(path.join(repoRoot, 'bin/mizzen'), args, { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: timeoutMs, maxBuffer: 8 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

export class TagLab {
  readonly receivers = new Map<string, InjectorReceiver>();
  pki!: Pki;
  client!: KubeClient;
  /** Writes as istiod does (its own field manager), e.g. the caBundle of a revision's webhook. */
  istiod!: KubeClient;

  constructor(
    readonly kubeconfig: string,
    /** Namespace of the control planes (IstioOperators) and of the RevisionTags. */
    readonly namespace: string,
  ) {}

  async open(): Promise<void> {
    const kc = KubeClient.loadConfig(this.kubeconfig);
    this.client = await KubeClient.create(kc);
    this.istiod = await KubeClient.create(kc, 'istiod');
    this.pki = await makePki();
    await this.ensureNamespace(this.namespace);
  }

  async ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await waitFor(`namespace ${name} to finish terminating`, async () => (await this.client.get(R.namespace, name))?.metadata?.deletionTimestamp === undefined, 120_000, 250);
    await this.client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  }

  /** Starts a receiver for the revision and installs the revision with an IstioOperator pointing at it. */
  async installRevision(revision: string): Promise<InjectorReceiver> {
    const receiver = new InjectorReceiver(revision, this.pki);
    await receiver.start();
    this.receivers.set(revision, receiver);
    const spec: Record<string, unknown> = { profile: 'external', values: { istiodRemote: { injectionURL: receiver.url } } };
    if (revision !== 'default') spec.revision = revision;
    await this.client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: `cp-${revision}`, namespace: this.namespace }, spec } as KubernetesObject);
    return receiver;
  }

  receiver(revision: string): InjectorReceiver {
    const r = this.receivers.get(revision);
    if (!r) throw new Error(`no receiver for revision ${revision}`);
    return r;
  }

  /** The revision's own injector webhook, once the IstioOperator controller has applied it. */
  async revisionWebhook(revision: string, timeoutMs = 60_000): Promise<Mwc> {
    const selector = `istio.io/rev=${revision},install.operator.istio.io/owning-resource-namespace=${this.namespace},!istio.io/tag`;
    return waitFor(`the injector webhook of revision ${revision}`, async () => (await this.client.list<Mwc>(R.mutatingWebhook, { labelSelector: selector })).items[0], timeoutMs, 100);
  }

  /** Sets caBundle on every webhook of the revision's configuration, as istiod patches its own webhook. */
  async patchCaBundle(revision: string, caBundle: string): Promise<Mwc> {
    const mwc = await this.revisionWebhook(revision);
    return this.istiod.apply<Mwc>({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: mwc.metadata?.name },
      webhooks: (mwc.webhooks ?? []).map((w) => ({ name: w.name, clientConfig: { caBundle } })),
    } as Mwc);
  }

  podObject(namespace: string, name: string, labels: Record<string, string> = {}): Pod {
    return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] } };
  }

  async createPod(namespace: string, name: string, labels: Record<string, string> = {}): Promise<Pod> {
    return this.client.create<Pod>(this.podObject(namespace, name, labels));
  }

  /** A server-side dry-run create: admission webhooks run (sideEffects None), nothing is stored. */
  async dryRunPod(namespace: string, name: string, labels: Record<string, string> = {}): Promise<Pod> {
    return this.client.request<Pod>('POST', resourcePath(R.pod, namespace), { body: this.podObject(namespace, name, labels), query: { dryRun: 'All' } });
  }

  /** The revision that injects a new pod in the namespace now (by dry run); undefined when none does. */
  async servingRevision(namespace: string, labels: Record<string, string> = {}): Promise<string | undefined> {
    return injectedRevision(await this.dryRunPod(namespace, `probe-${Date.now().toString(36)}`, labels));
  }

  /** Deletes the IstioOperators (the operator must still run: its finalizer removes their webhooks) and stops the receivers. */
  async close(): Promise<void> {
    for (const rev of this.receivers.keys()) await this.client.delete(R.istioOperator, `cp-${rev}`, this.namespace).catch(() => undefined);
    await waitFor(
      'the IstioOperators to be gone',
      async () => {
        for (const rev of this.receivers.keys()) if (await this.client.get(R.istioOperator, `cp-${rev}`, this.namespace)) return false;
        return true;
      },
      60_000,
      200,
    ).catch((err: unknown) => console.log(`      ${err instanceof Error ? err.message : String(err)}`));
    for (const r of this.receivers.values()) await r.stop();
    this.client?.close();
    this.istiod?.close();
  }
}

export function isApiError(err: unknown, status: number): boolean {
  return err instanceof ApiError && err.statusCode === status;
}
