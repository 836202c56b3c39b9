// `mizzen operator uninstall`: makes removing the operator safe. IstioOperators and RevisionTags carry the
// finalizer install.istio.io/mizzen-cleanup, which only a running operator removes; once the operator is gone,
// deleting them would hang. The chart runs this command in a pre-delete hook Job; without Helm (kustomize, or
// `helm uninstall --no-hooks`) run it by hand before or after removing the operator.
//
//   --mode orphan (default): stop the operator (scale its Deployment to 0, wait until no one holds its Lease),
//     then remove the finalizer from every IstioOperator and RevisionTag. The mesh keeps running; deleting the
//     custom resources later finishes at once (their namespaced children go with them by ownerReference).
//   --mode delete: delete every RevisionTag and IstioOperator while the operator still runs, so that it removes
//     what it installed, and wait for them to go. What is left when the wait ends (no operator running) is
//     cleaned up here: every object labelled app.kubernetes.io/managed-by=mizzen of the kinds mizzen renders is
//     deleted and the finalizers are removed.
import type { Command } from 'commander';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../kube/client.js';
import { errorMessage, isConflict, isNotFound } from '../kube/errors.js';
import { R, type ResourceType } from '../kube/resources.js';
import { MANAGED_BY, MANAGED_BY_LABEL, RENDERED_KINDS } from '../render/index.js';
import { FINALIZER } from '../controllers/istiooperator/reconcile.js';
import { UserError } from './errors.js';

/** The finalizer of IstioOperators and RevisionTags (both controllers use the same one). */
export const CLEANUP_FINALIZER = FINALIZER;
/** Tags first: a tag points at a revision an IstioOperator installs. */
const ROOTS: readonly ResourceType[] = [R.revisionTag, R.istioOperator];

export type UninstallMode = 'orphan' | 'delete';

export interface UninstallOptions {
  readonly mode: UninstallMode;
  /** The operator's Deployment and Lease ("namespace/name"); orphan mode stops the one and waits for the other. */
  readonly deployment?: { namespace: string; name: string } | undefined;
  readonly lease?: { namespace: string; name: string } | undefined;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly say: (line: string) => void;
  readonly now?: () => number;
}

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string | null; renewTime?: string | null; leaseDurationSeconds?: number | null };
}

interface Scalable extends KubernetesObject {
  spec?: { replicas?: number };
  status?: { replicas?: number };
}

/** Whether a Lease is held by someone now: a holder whose renewTime plus the lease duration is still ahead. */
export function leaseHeld(lease: Lease | undefined, nowMs: number): boolean {
  const s = lease?.spec;
  if (!s?.holderIdentity) return false;
  const renewed = Date.parse(s.renewTime ?? '');
  if (Number.isNaN(renewed)) return true;
  return renewed + (s.leaseDurationSeconds ?? 15) * 1000 > nowMs;
}

/** The finalizers of an object without ours; undefined when it has none of ours. */
export function withoutCleanupFinalizer(obj: KubernetesObject): string[] | undefined {
  const f = obj.metadata?.finalizers ?? [];
  return f.includes(CLEANUP_FINALIZER) ? f.filter((x) => x !== CLEANUP_FINALIZER) : undefined;
}

function ref(obj: KubernetesObject): string {
  const m = obj.metadata;
  return `${obj.kind ?? ''} ${m?.namespace ? `${m.namespace}/` : ''}${m?.name ?? ''}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, opts: UninstallOptions, check: () => Promise<boolean>): Promise<boolean> {
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (now() > deadline) {
      opts.say(`Gave up waiting for ${what} after ${Math.round(opts.timeoutMs / 1000)}s`);
      return false;
    }
    await sleep(opts.pollMs ?? 500);
  }
}

async function listRoots(client: KubeClient): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  for (const t of ROOTS) out.push(...(await client.list(t)).items.map((o) => ({ ...o, apiVersion: t.apiVersion, kind: t.kind })));
  return out;
}

/** Removes our finalizer from one object; 'conflict' when it changed since it was read. */
async function release(client: KubeClient, t: ResourceType, obj: KubernetesObject, say: (line: string) => void): Promise<'released' | 'skipped' | 'conflict'> {
  const rest = withoutCleanupFinalizer(obj);
  if (!rest) return 'skipped';
  const m = obj.metadata ?? {};
  try {
    await client.mergePatch(t, m.name ?? '', m.namespace, { metadata: { finalizers: rest, resourceVersion: m.resourceVersion } });
  } catch (err) {
    if (isNotFound(err)) return 'skipped';
    if (isConflict(err)) return 'conflict';
    throw err;
  }
  say(`Removed finalizer ${CLEANUP_FINALIZER} from ${t.kind} ${m.namespace ?? ''}/${m.name ?? ''}`);
  return 'released';
}

/** Removes our finalizer from every IstioOperator and RevisionTag that has it (re-reading after a conflict). */
async function releaseFinalizers(client: KubeClient, say: (line: string) => void): Promise<number> {
  let released = 0;
  for (const t of ROOTS) {
    for (let attempt = 0; attempt < 6; attempt++) {
      const results = [];
      for (const obj of (await client.list(t)).items) results.push(await release(client, t, obj, say));
      released += results.filter((r) => r === 'released').length;
      if (!results.includes('conflict')) break;
    }
  }
  return released;
}

/** Deletes every object mizzen rendered (by its managed-by label), cluster-scoped ones included. */
async function purgeChildren(client: KubeClient, say: (line: string) => void): Promise<number> {
  let n = 0;
  for (const t of RENDERED_KINDS) {
    for (const obj of (await client.list(t, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` })).items) {
      const m = obj.metadata ?? {};
      if (await client.delete(t, m.name ?? '', m.namespace, { uid: m.uid })) {
        n++;
        say(`Deleted ${t.kind} ${m.namespace ? `${m.namespace}/` : ''}${m.name ?? ''}`);
      }
    }
  }
  return n;
}

async function stopOperator(client: KubeClient, opts: UninstallOptions): Promise<void> {
  const d = opts.deployment;
  if (d && (await client.get(R.deployment, d.name, d.namespace))) {
    await client.mergePatch(R.deployment, d.name, d.namespace, { spec: { replicas: 0 } });
    opts.say(`Scaled Deployment ${d.namespace}/${d.name} to 0`);
    await until(`the pods of Deployment ${d.namespace}/${d.name} to stop`, opts, async () => ((await client.get<Scalable>(R.deployment, d.name, d.namespace))?.status?.replicas ?? 0) === 0);
  }
  const l = opts.lease;
  if (l) {
    const now = opts.now ?? Date.now;
    const free = await until(`Lease ${l.namespace}/${l.name} to be free`, opts, async () => !leaseHeld(await client.get<Lease>(R.lease, l.name, l.namespace), now()));
    if (free) opts.say(`No operator holds Lease ${l.namespace}/${l.name}`);
    else throw new UserError(`an operator still holds Lease ${l.namespace}/${l.name}; stop it first (it would add the finalizers back)`);
  }
}

/** Runs the uninstall; returns what is left (empty when every root is gone, or in orphan mode). */
export async function uninstall(client: KubeClient, opts: UninstallOptions): Promise<void> {
  if (opts.mode === 'orphan') {
    await stopOperator(client, opts);
    const n = await releaseFinalizers(client, opts.say);
    opts.say(`Released ${n} object(s); the installed mesh is left running`);
    return;
  }
  const roots = await listRoots(client);
  for (const obj of roots) {
    const t = obj.kind === R.revisionTag.kind ? R.revisionTag : R.istioOperator;
    const m = obj.metadata ?? {};
    if (!m.deletionTimestamp && (await client.delete(t, m.name ?? '', m.namespace))) opts.say(`Deleted ${ref(obj)}`);
  }
  const gone = await until('the operator to clean up', opts, async () => (await listRoots(client)).length === 0);
  if (gone) {
    opts.say(`The operator removed ${roots.length} object(s) and what it had installed`);
    return;
  }
  opts.say('Cleaning up without the operator');
  await purgeChildren(client, opts.say);
  await releaseFinalizers(client, opts.say);
  await until('the custom resources to go', opts, async () => (await listRoots(client)).length === 0);
}

function nsName(v: string | undefined, flag: string): { namespace: string; name: string } | undefined {
  if (!v) return undefined;
  const [namespace, name, ...rest] = v.split('/');
  if (!namespace || !name || rest.length) throw new UserError(`${flag} must be NAMESPACE/NAME, got "${v}"`);
  return { namespace, name };
}

function parseDuration(v: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(v);
  if (!m) throw new UserError(`--timeout must be a duration such as 90s or 2m, got "${v}"`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

interface Flags {
  kubeconfig?: string;
  mode: string;
  deployment?: string;
  lease?: string;
  timeout: string;
}

/** `mizzen operator uninstall`, a subcommand of `mizzen operator`. */
export function registerUninstall(operator: Command): void {
  operator
    .command('uninstall')
    .description('Make removing the operator safe: release its finalizers (orphan) or delete what it installed (delete)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--mode <mode>', 'orphan: stop the operator and remove its finalizers, leaving the mesh; delete: delete every IstioOperator and RevisionTag', 'orphan')
    .option('--deployment <ns/name>', "the operator's Deployment, scaled to 0 in orphan mode")
    .option('--lease <ns/name>', "the operator's leader Lease; orphan mode waits until no one holds it")
    .option('--timeout <duration>', 'how long to wait for each step', '2m')
    .action(async (_flags: Flags, cmd: Command) => {
      // `mizzen operator` has a --kubeconfig of its own, which commander gives the parent: read both.
      const flags = cmd.optsWithGlobals<Flags>();
      if (flags.mode !== 'orphan' && flags.mode !== 'delete') throw new UserError(`--mode must be orphan or delete, got "${flags.mode}"`);
      const opts: UninstallOptions = {
        mode: flags.mode,
        deployment: nsName(flags.deployment, '--deployment'),
        lease: nsName(flags.lease, '--lease'),
        timeoutMs: parseDuration(flags.timeout),
        say: (line) => process.stdout.write(`${line}\n`),
      };
      let client: KubeClient;
      try {
        client = await KubeClient.create(KubeClient.loadConfig(flags.kubeconfig));
      } catch (err) {
        throw new UserError(`cannot reach the cluster: ${errorMessage(err)}`);
      }
      try {
        await uninstall(client, opts);
      } finally {
        client.close();
      }
    });
}
