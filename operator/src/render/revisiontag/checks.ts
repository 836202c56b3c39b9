// The safety chain of a revision tag: small named checks, in order, each returning the message of what is wrong
// (or nothing). The first failure decides the tag's Ready reason; nothing is applied then, so the webhook the
// tag served before stays in place. `mizzen tag set` runs the same chain before it writes anything.
//   1. NameConflict      the tag is the name of an installed revision (except "default": the default tag
//                        takes over from the default revision, whose webhook it switches off)
//   2. RevisionNotFound  the target revision is installed exactly once (its injector webhook exists once)
//   3. Overlap           no webhook of the tag matches a namespace/pod label combination another injector
//                        webhook matches (istioctl ran this only in the CLI, as an analyzer)
import type { V1MutatingWebhook, V1ObjectMeta } from '@kubernetes/client-node';
import { jointlySatisfiable, requirementsOf, type Requirement } from './selectors.js';
import {
  DEFAULT_REVISION,
  DEFAULT_TAG,
  controlPlaneNamespaceOf,
  deactivation,
  isDeactivated,
  isInjector,
  isRevisionWebhook,
  neverMatches,
  revisionClientConfig,
  tagOwnerOf,
  tagWebhookConfiguration,
  tagWebhookName,
  tagWebhooks,
  type WebhookConfiguration,
} from './webhook.js';

export type TagReason = 'NameConflict' | 'RevisionNotFound' | 'Overlap';

export interface TagRef {
  readonly name: string;
  readonly namespace: string;
}

export interface TagInput {
  /** The RevisionTag; its name is the tag. */
  readonly tag: TagRef;
  /** spec.revision. */
  readonly revision: string;
  /** spec.namespace: when set, the revision must be installed in that namespace. */
  readonly controlPlaneNamespace?: string;
  /** Every MutatingWebhookConfiguration in the cluster. */
  readonly webhooks: readonly WebhookConfiguration[];
  /** RevisionTags created before this one and not being deleted: their claims on tag names win. */
  readonly olderTags: readonly TagRef[];
}

/**
 * The RevisionTags created before this one (by creationTimestamp, then namespace/name) and not being deleted:
 * their claims on a tag name win. A tag not created yet (no timestamp) is younger than every existing one.
 */
export function olderTags(all: readonly { metadata?: V1ObjectMeta }[], tag: TagRef, createdAt: string | undefined): TagRef[] {
  const key = (ns: string, name: string): string => `${ns}/${name}`;
  const mine = key(tag.namespace, tag.name);
  return all
    .map((t) => ({ name: t.metadata?.name ?? '', namespace: t.metadata?.namespace ?? '', at: String(t.metadata?.creationTimestamp ?? ''), deleting: !!t.metadata?.deletionTimestamp }))
    .filter((t) => key(t.namespace, t.name) !== mine && !t.deleting)
    .filter((t) => createdAt === undefined || (t.at !== createdAt ? t.at < createdAt : key(t.namespace, t.name) < mine))
    .map(({ name, namespace }) => ({ name, namespace }));
}

export interface TagCheck {
  readonly reason: TagReason;
  readonly run: (input: TagInput) => string | undefined;
}

function nameOf(mwc: WebhookConfiguration): string {
  return mwc.metadata?.name ?? '';
}

/** The revision's own injector webhooks (in spec.namespace, when that is set). */
export function revisionWebhooksOf(input: Pick<TagInput, 'revision' | 'controlPlaneNamespace' | 'webhooks'>): WebhookConfiguration[] {
  return input.webhooks
    .filter((m) => isRevisionWebhook(m, input.revision))
    .filter((m) => input.controlPlaneNamespace === undefined || controlPlaneNamespaceOf(m) === input.controlPlaneNamespace)
    .sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : 1));
}

const nameConflict: TagCheck = {
  reason: 'NameConflict',
  run: ({ tag, webhooks }) => {
    if (tag.name === DEFAULT_TAG) return undefined;
    const clash = webhooks.find((m) => isRevisionWebhook(m, tag.name));
    if (!clash) return undefined;
    return `tag "${tag.name}" is the name of an installed revision (MutatingWebhookConfiguration ${nameOf(clash)}); namespaces labelled istio.io/rev=${tag.name} would match both`;
  },
};

const revisionNotFound: TagCheck = {
  reason: 'RevisionNotFound',
  run: (input) => {
    const found = revisionWebhooksOf(input);
    const where = input.controlPlaneNamespace === undefined ? '' : ` in namespace ${input.controlPlaneNamespace}`;
    if (found.length === 0) return `revision "${input.revision}" is not installed${where}: no MutatingWebhookConfiguration is labelled istio.io/rev=${input.revision}`;
    if (found.length > 1) return `revision "${input.revision}" is installed ${found.length} times${where} (${found.map(nameOf).join(', ')}); a tag must point at exactly one (set spec.namespace)`;
    const [only] = found;
    if (only && !revisionClientConfig(only)) return `MutatingWebhookConfiguration ${nameOf(only)} of revision "${input.revision}" has no *.sidecar-injector.istio.io webhook to copy`;
    return undefined;
  },
};

interface Matcher {
  readonly source: string;
  readonly hook: V1MutatingWebhook;
}

/** Every namespace carries kubernetes.io/metadata.name (the API server sets it). */
const NAMESPACE_IMPLICIT: Requirement[] = [{ key: 'kubernetes.io/metadata.name', operator: 'Exists', values: [] }];

function covers(list: readonly string[] | undefined, value: string): boolean {
  return (list ?? []).some((v) => v === value || v === '*');
}

function targetsPodCreate(w: V1MutatingWebhook): boolean {
  return (w.rules ?? []).some((r) => covers(r.operations, 'CREATE') && covers(r.apiGroups, '') && covers(r.apiVersions, 'v1') && covers(r.resources, 'pods'));
}

/** Whether some namespace and some pod in it would be sent to both webhooks. */
export function webhooksOverlap(a: V1MutatingWebhook, b: V1MutatingWebhook): boolean {
  if (!targetsPodCreate(a) || !targetsPodCreate(b) || neverMatches(a) || neverMatches(b)) return false;
  return (
    jointlySatisfiable(requirementsOf(a.namespaceSelector), requirementsOf(b.namespaceSelector), NAMESPACE_IMPLICIT) &&
    jointlySatisfiable(requirementsOf(a.objectSelector), requirementsOf(b.objectSelector))
  );
}

/**
 * The injector webhooks a tag's webhooks must not overlap: every live injector except the tag's own
 * configuration (or an unowned namesake, e.g. istioctl's, which the tag adopts) and, for the default tag, the
 * default revision's (switched off while it serves); plus the webhooks older RevisionTags claim.
 */
function competitors(input: TagInput): Matcher[] {
  const own = tagWebhookName(input.tag.name);
  const key = `${input.tag.namespace}/${input.tag.name}`;
  const out: Matcher[] = [];
  for (const mwc of input.webhooks) {
    if (!isInjector(mwc)) continue;
    if (nameOf(mwc) === own && (tagOwnerOf(mwc) ?? key) === key) continue;
    if (input.tag.name === DEFAULT_TAG && isRevisionWebhook(mwc, DEFAULT_REVISION)) continue;
    for (const hook of mwc.webhooks ?? []) out.push({ source: `MutatingWebhookConfiguration ${nameOf(mwc)}`, hook });
  }
  for (const t of input.olderTags) for (const hook of tagWebhooks(t.name, {})) out.push({ source: `RevisionTag ${t.namespace}/${t.name}`, hook });
  return out;
}

const overlap: TagCheck = {
  reason: 'Overlap',
  run: (input) => {
    const others = competitors(input);
    const clashes = tagWebhooks(input.tag.name, {}).flatMap((mine) =>
      others.filter((o) => webhooksOverlap(mine, o.hook)).map((o) => `${mine.name} matches what ${o.hook.name} of ${o.source} matches`),
    );
    const unique = [...new Set(clashes)];
    if (unique.length === 0) return undefined;
    const more = unique.length > 3 ? ` (and ${unique.length - 3} more)` : '';
    return `tag "${input.tag.name}" would overlap other injection webhooks: ${unique.slice(0, 3).join('; ')}${more}`;
  },
};

/** The chain, in order. */
export const TAG_CHECKS: readonly TagCheck[] = [nameConflict, revisionNotFound, overlap];

export type TagPlan =
  | {
      readonly ok: true;
      /** The tag's webhook configuration, owned by the RevisionTag. */
      readonly desired: WebhookConfiguration;
      readonly revisionWebhook: WebhookConfiguration;
      /** Apply configurations that switch the default revision's webhooks off (default tag only; empty when done). */
      readonly deactivations: WebhookConfiguration[];
    }
  | { readonly ok: false; readonly reason: TagReason; readonly message: string };

/** Runs the chain; when every check passes, the webhook to apply and what to switch off. */
export function planTag(input: TagInput): TagPlan {
  for (const check of TAG_CHECKS) {
    const message = check.run(input);
    if (message !== undefined) return { ok: false, reason: check.reason, message };
  }
  const revisionWebhook = revisionWebhooksOf(input)[0];
  const clientConfig = revisionWebhook && revisionClientConfig(revisionWebhook);
  if (!revisionWebhook || !clientConfig) throw new Error('planTag: the RevisionNotFound check let a missing revision through');
  const desired = tagWebhookConfiguration({ tag: input.tag.name, revision: input.revision, clientConfig, owner: input.tag });
  const deactivations =
    input.tag.name === DEFAULT_TAG ? input.webhooks.filter((m) => isRevisionWebhook(m, DEFAULT_REVISION) && !isDeactivated(m)).map(deactivation) : [];
  return { ok: true, desired, revisionWebhook, deactivations };
}
