import fs from 'node:fs';
import readline from 'node:readline/promises';
import type { Command } from 'commander';
import type { KubernetesObject, V1Namespace, V1Pod } from '@kubernetes/client-node';
import YAML from 'yaml';
import { validate, type RevisionTag } from '../api/index.js';
import { KubeClient } from '../kube/client.js';
import { ApiError, classify, errorMessage } from '../kube/errors.js';
import { R } from '../kube/resources.js';
import { meta } from '../kube/objects.js';
import { toYaml, type KubernetesObject as Rendered } from '../render/index.js';
import {
  TLS_MODE_LABEL,
  istiodClientConfig,
  namespacesUsingTag,
  olderTags,
  planTag,
  podsNeedingRestart,
  tagWebhookConfiguration,
  type ClientConfig,
  type WebhookConfiguration,
} from '../render/revisiontag/index.js';
import { parseDuration, ConfigError } from '../config/index.js';
import { UserError } from './errors.js';

/** The field manager of RevisionTags written by `mizzen tag set`. */
export const TAG_CLI_FIELD_MANAGER = 'mizzen-tag';
const DEFAULT_NAMESPACE = 'istio-system';
/** `tag list` for a tag that no webhook serves, in kubectl's words. */
const NONE = '<none>';

type Tag = RevisionTag & KubernetesObject;

/** Where the commands write and how they ask; tests and the bench pass their own. */
export interface TagIO {
  out(text: string): void;
  err(text: string): void;
  /** Asks a yes/no question; false when nobody can answer. */
  confirm(question: string): Promise<boolean>;
}

export const processIO: TagIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  confirm: async (question) => {
    if (!process.stdin.isTTY) return false;
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
};

export interface SetTagOptions {
  tag: string;
  revision: string;
  /** Namespace of the RevisionTag. */
  namespace: string;
  /** spec.namespace: the control plane's namespace, when the revision must be found there. */
  controlPlaneNamespace?: string;
  overwrite: boolean;
  yes: boolean;
  /** Write spec.revision even when another field manager (Argo CD, kubectl apply, Helm) manages the spec. */
  forceConflicts?: boolean;
  /** Wait this long for the operator to report that the tag serves the revision (0: do not wait). */
  waitMs: number;
}

function revisionTagObject(o: Pick<SetTagOptions, 'tag' | 'revision' | 'namespace' | 'controlPlaneNamespace'>): Tag {
  const spec: RevisionTag['spec'] = { revision: o.revision };
  if (o.controlPlaneNamespace) spec.namespace = o.controlPlaneNamespace;
  return { apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: o.tag, namespace: o.namespace }, spec };
}

function checkNames(obj: Tag): void {
  const v = validate(obj);
  if (!v.valid) throw new UserError(v.errors.join('; '));
}

interface Usage {
  namespaces: string[];
  restart: string[];
}

async function usage(client: KubeClient, tag: string, revision: string): Promise<Usage> {
  const namespaces = namespacesUsingTag((await client.list<V1Namespace & KubernetesObject>(R.namespace)).items, tag);
  const lists = await Promise.all(namespaces.map((ns) => client.list<V1Pod & KubernetesObject>(R.pod, { namespace: ns, labelSelector: TLS_MODE_LABEL })));
  return { namespaces, restart: podsNeedingRestart(lists.flatMap((l) => l.items), namespaces, revision) };
}

/** Runs the controller's safety chain against the live cluster, so a tag that would be refused is never written. */
async function preflight(client: KubeClient, o: SetTagOptions, existing: Tag | undefined): Promise<void> {
  const [webhooks, tags] = await Promise.all([client.list<WebhookConfiguration & KubernetesObject>(R.mutatingWebhook), client.list<Tag>(R.revisionTag)]);
  const ref = { name: o.tag, namespace: o.namespace };
  const older = olderTags(tags.items, ref, existing && meta(existing).creationTimestamp);
  const plan = planTag({ tag: ref, revision: o.revision, controlPlaneNamespace: o.controlPlaneNamespace, webhooks: webhooks.items, olderTags: older });
  if (!plan.ok) throw new UserError(`cannot set tag "${o.tag}" (${plan.reason}): ${plan.message}`);
}

function describeMove(io: TagIO, o: SetTagOptions, from: string | undefined, use: Usage): void {
  if (from !== undefined && from !== o.revision) io.out(`Revision tag "${o.tag}" moves from revision "${from}" to "${o.revision}".\n`);
  io.out(use.namespaces.length ? `Namespaces that move with it: ${use.namespaces.join(', ')}\n` : `No namespace selects tag "${o.tag}" yet.\n`);
  if (!use.namespaces.length) return;
  io.out(`Pods that need a restart to run revision "${o.revision}": ${use.restart.length}\n`);
  for (const p of use.restart.slice(0, 20)) io.out(`  ${p}\n`);
  if (use.restart.length > 20) io.out(`  ... and ${use.restart.length - 20} more\n`);
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsV1?: { [k: string]: unknown };
}

/**
 * The other field managers that own spec.revision (or spec.namespace) of a live RevisionTag, e.g. Argo CD
 * ("argocd-controller"), `kubectl apply` ("kubectl", "kubectl-client-side-apply") or Helm. Status and our own
 * entries do not count. Pure: reads metadata.managedFields.
 */
export function otherSpecManagers(live: KubernetesObject | undefined, self = TAG_CLI_FIELD_MANAGER): string[] {
  const entries = (live?.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
  const out = new Set<string>();
  for (const e of entries) {
    if (e.subresource || !e.manager || e.manager === self) continue;
    const spec = e.fieldsV1?.['f:spec'] as Record<string, unknown> | undefined;
    if (spec && ('f:revision' in spec || 'f:namespace' in spec)) out.add(`${e.manager} (${e.operation ?? 'Update'})`);
  }
  return [...out].sort();
}

/** Refuses (or, with --force-conflicts, warns) when another field manager declares the tag's spec. */
function checkSpecOwnership(existing: Tag | undefined, o: SetTagOptions, io: TagIO): void {
  const others = otherSpecManagers(existing);
  if (!others.length || existing?.spec.revision === o.revision) return;
  const what = `the spec of RevisionTag ${o.namespace}/${o.tag} is managed by ${others.join(', ')}`;
  if (!o.forceConflicts) {
    throw new UserError(`${what}: change it where it is declared (a GitOps tool would revert this change), or pass --force-conflicts to take it over`);
  }
  io.err(`Warning: ${what}; taking spec.revision over (--force-conflicts). A GitOps tool with self-heal will set it back.\n`);
}

/** `mizzen tag set`: create or move a RevisionTag, after the same checks the controller runs. */
export async function setTag(client: KubeClient, o: SetTagOptions, io: TagIO = processIO): Promise<Tag> {
  const desired = revisionTagObject(o);
  checkNames(desired);
  const existing = await client.get<Tag>(R.revisionTag, o.tag, o.namespace);
  const from = existing?.spec.revision;
  checkSpecOwnership(existing, o, io);
  if (from !== undefined && from !== o.revision && !o.overwrite) {
    throw new UserError(`revision tag "${o.tag}" already points at revision "${from}"; pass --overwrite to move it to "${o.revision}"`);
  }
  const [, use] = await Promise.all([preflight(client, o, existing), usage(client, o.tag, o.revision)]);
  describeMove(io, o, from, use);
  const moving = from !== undefined && from !== o.revision;
  if (moving && use.namespaces.length > 0 && !o.yes && !(await io.confirm('Proceed with the move?'))) {
    throw new UserError(`did not move tag "${o.tag}": not confirmed (pass -y to skip the question)`);
  }
  const applied = await client.apply(desired);
  if (moving) io.out(`Revision tag "${o.tag}" moved to revision "${o.revision}".${use.restart.length ? ' Restart the pods above to move their sidecars.' : ''}\n`);
  else if (from === o.revision) io.out(`Revision tag "${o.tag}" already points at revision "${o.revision}".\n`);
  else io.out(`Revision tag "${o.tag}" set to revision "${o.revision}". To enable injection with it: kubectl label namespace <NAMESPACE> istio.io/rev=${o.tag}\n`);
  if (o.waitMs > 0) return waitServing(client, applied, o, io);
  return applied;
}

/** Polls the RevisionTag until the operator reports that it serves the revision (or why it does not). */
async function waitServing(client: KubeClient, applied: Tag, o: SetTagOptions, io: TagIO): Promise<Tag> {
  const generation = meta(applied).generation;
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    const tag = await client.get<Tag>(R.revisionTag, o.tag, o.namespace);
    const st = tag?.status;
    const ready = st?.conditions?.find((c) => c.type === 'Ready');
    if (tag && (st?.observedGeneration ?? 0) >= generation && ready) {
      if (ready.status === 'True' && st?.revision === o.revision) {
        io.out(`Revision tag "${o.tag}" serves revision "${o.revision}".\n`);
        return tag;
      }
      if (ready.status === 'False') throw new UserError(`tag "${o.tag}" does not serve revision "${o.revision}" (${ready.reason}): ${ready.message}`);
    }
    if (Date.now() > deadline) throw new UserError(`timed out waiting for tag "${o.tag}" to serve revision "${o.revision}"; is the mizzen operator running with the revisiontag controller?`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TagDescription {
  tag: string;
  /** The revision the tag's webhook sends pods to: spec.revision until the operator reports, "<none>" when none does. */
  revision: string;
  namespaces: string[];
  /** Namespace of the RevisionTag object. */
  namespace: string;
  /** spec.revision, when it differs from what is served. */
  desiredRevision?: string;
  /** The Ready reason when the tag does not serve spec.revision. */
  reason?: string;
}

export function describeTags(tags: readonly Tag[], namespaces: readonly V1Namespace[]): TagDescription[] {
  return tags
    .map((t) => {
      const m = meta(t);
      const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
      // Until the operator reports, the tag is taken at its word; once it has, only a live webhook counts.
      const served = t.status?.revision ?? (t.status?.observedGeneration === undefined ? t.spec.revision : NONE);
      const d: TagDescription = { tag: m.name, revision: served, namespaces: namespacesUsingTag(namespaces, m.name), namespace: m.namespace ?? '' };
      if (served !== t.spec.revision) d.desiredRevision = t.spec.revision;
      if (ready?.status === 'False') d.reason = ready.reason;
      return d;
    })
    .sort((a, b) => (a.revision !== b.revision ? (a.revision < b.revision ? -1 : 1) : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** istioctl's table: columns padded to their widest cell plus one space. */
export function formatTagTable(rows: readonly TagDescription[]): string {
  const cells = [
    ['TAG', 'REVISION', 'NAMESPACES'],
    ...rows.map((r) => {
      const note = r.desiredRevision !== undefined || r.reason ? ` (wants ${r.desiredRevision ?? r.revision}${r.reason ? `: ${r.reason}` : ''})` : '';
      return [r.tag, `${r.revision}${note}`, r.namespaces.join(',')];
    }),
  ];
  const widths = [0, 1].map((i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
  return cells.map((c) => `${(c[0] ?? '').padEnd((widths[0] ?? 0) + 1)}${(c[1] ?? '').padEnd((widths[1] ?? 0) + 1)}${c[2] ?? ''}`.trimEnd()).join('\n') + '\n';
}

export async function listTags(client: KubeClient, output: string, io: TagIO = processIO): Promise<TagDescription[]> {
  if (!['table', 'json', 'yaml'].includes(output)) throw new UserError(`--output must be table, json or yaml, got "${output}"`);
  const tags = (await client.list<Tag>(R.revisionTag)).items;
  const rows = describeTags(tags, (await client.list<V1Namespace & KubernetesObject>(R.namespace)).items);
  if (output === 'json') io.out(`${JSON.stringify(rows, null, 2)}\n`);
  else if (output === 'yaml') io.out(YAML.stringify(rows));
  else io.out(rows.length ? formatTagTable(rows) : 'No revision tags found.\n');
  return rows;
}

export async function removeTag(client: KubeClient, o: { tag: string; namespace: string; yes: boolean }, io: TagIO = processIO): Promise<void> {
  const existing = await client.get<Tag>(R.revisionTag, o.tag, o.namespace);
  if (!existing) throw new UserError(`revision tag "${o.tag}" not found in namespace ${o.namespace}`);
  const users = namespacesUsingTag((await client.list<V1Namespace & KubernetesObject>(R.namespace)).items, o.tag);
  if (users.length > 0) {
    io.err(`Caution: namespace(s) ${users.join(', ')} still select tag "${o.tag}"; their new pods will not be injected once it is removed.\n`);
    if (!o.yes && !(await io.confirm('Remove the tag anyway?'))) throw new UserError(`did not remove tag "${o.tag}": still in use (pass -y to remove it anyway)`);
  }
  await client.delete(R.revisionTag, o.tag, o.namespace);
  io.out(`Revision tag "${o.tag}" removed.\n`);
}

export interface GenerateOptions {
  tag: string;
  revision: string;
  controlPlaneNamespace: string;
  injectionUrl?: string;
  caBundleFile?: string;
}

/** `mizzen tag generate`: the tag's webhook from flags alone, as the controller would render it (no cluster). */
export function generateTagWebhook(o: GenerateOptions): string {
  checkNames(revisionTagObject({ tag: o.tag, revision: o.revision, namespace: o.controlPlaneNamespace }));
  let clientConfig: ClientConfig = o.injectionUrl ? { url: o.injectionUrl } : istiodClientConfig(o.revision, o.controlPlaneNamespace);
  if (o.injectionUrl && !/^https:\/\//.test(o.injectionUrl)) throw new UserError(`--injection-url must be an https URL, got "${o.injectionUrl}"`);
  if (o.caBundleFile) {
    let pem: string;
    try {
      pem = fs.readFileSync(o.caBundleFile, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read ${o.caBundleFile}: ${errorMessage(err)}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`${o.caBundleFile} holds no PEM certificate`);
    clientConfig = { ...clientConfig, caBundle: Buffer.from(pem).toString('base64') };
  }
  return toYaml([tagWebhookConfiguration({ tag: o.tag, revision: o.revision, clientConfig }) as Rendered]);
}

function waitMs(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return 60_000;
  try {
    return parseDuration(value, '--wait');
  } catch (err) {
    if (err instanceof ConfigError) throw new UserError(err.message);
    throw err;
  }
}

async function withClient<T>(kubeconfig: string | undefined, fn: (client: KubeClient) => Promise<T>): Promise<T> {
  let client: KubeClient;
  try {
    client = await KubeClient.create(KubeClient.loadConfig(kubeconfig), TAG_CLI_FIELD_MANAGER);
  } catch (err) {
    throw new UserError(`cannot load the kubeconfig: ${errorMessage(err)}`);
  }
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof ApiError) throw new UserError(`${err.message} (HTTP ${err.statusCode}${err.statusCode === 404 ? '; are the mizzen CRDs installed?' : ''})`);
    if (classify(err) === 'transient') throw new UserError(`cannot reach the API server: ${errorMessage(err)}`);
    throw err;
  } finally {
    client.close();
  }
}

interface CommonFlags {
  kubeconfig?: string;
  namespace: string;
}

export function registerTag(program: Command): void {
  const tag = program.command('tag').description('Revision tags: stable names (istio.io/rev=<tag>) that point at a control plane revision');
  tag
    .command('set <tag>')
    .description('Create a revision tag, or move it to another revision (with --overwrite)')
    .requiredOption('-r, --revision <rev>', 'control plane revision the tag points at')
    .option('--overwrite', 'move an existing tag to another revision', false)
    .option('-y, --skip-confirmation', 'do not ask before moving namespaces to another revision', false)
    .option('-n, --namespace <ns>', 'namespace of the RevisionTag', DEFAULT_NAMESPACE)
    .option('--control-plane-namespace <ns>', "the revision's control plane namespace (spec.namespace)")
    .option('--force-conflicts', 'write the tag even when another field manager (Argo CD, kubectl apply) manages its spec', false)
    .option('--wait [duration]', 'wait until the operator reports the tag serving the revision (default 60s)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .action(async (name: string, f: CommonFlags & { revision: string; overwrite: boolean; skipConfirmation: boolean; forceConflicts: boolean; controlPlaneNamespace?: string; wait?: string | boolean }) => {
      const opts: SetTagOptions = {
        tag: name,
        revision: f.revision,
        namespace: f.namespace,
        controlPlaneNamespace: f.controlPlaneNamespace,
        overwrite: f.overwrite,
        yes: f.skipConfirmation,
        forceConflicts: f.forceConflicts,
        waitMs: waitMs(f.wait),
      };
      await withClient(f.kubeconfig, (client) => setTag(client, opts));
    });
  tag
    .command('list')
    .alias('show')
    .description('List revision tags: TAG, REVISION, NAMESPACES')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .action(async (f: { output: string; kubeconfig?: string }) => {
      await withClient(f.kubeconfig, (client) => listTags(client, f.output));
    });
  tag
    .command('remove <tag>')
    .alias('delete')
    .description('Remove a revision tag (its webhook goes with it)')
    .option('-y, --skip-confirmation', 'do not ask when namespaces still use the tag', false)
    .option('-n, --namespace <ns>', 'namespace of the RevisionTag', DEFAULT_NAMESPACE)
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .action(async (name: string, f: CommonFlags & { skipConfirmation: boolean }) => {
      await withClient(f.kubeconfig, (client) => removeTag(client, { tag: name, namespace: f.namespace, yes: f.skipConfirmation }));
    });
  tag
    .command('generate <tag>')
    .description("Print the tag's MutatingWebhookConfiguration without touching the cluster")
    .requiredOption('-r, --revision <rev>', 'control plane revision the tag points at')
    .option('--control-plane-namespace <ns>', "namespace of the revision's istiod Service", DEFAULT_NAMESPACE)
    .option('--injection-url <url>', 'injection URL of an external control plane (instead of the istiod Service)')
    .option('--ca-bundle-file <pem>', 'PEM file with the CA that signed the injector certificate')
    .action((name: string, f: { revision: string; controlPlaneNamespace: string; injectionUrl?: string; caBundleFile?: string }) => {
      process.stdout.write(generateTagWebhook({ tag: name, revision: f.revision, controlPlaneNamespace: f.controlPlaneNamespace, injectionUrl: f.injectionUrl, caBundleFile: f.caBundleFile }));
    });
}
