import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { IstioOperator, IstioOperatorStatus } from '../../api/index.js';
import { validate } from '../../api/index.js';
import { render, ownerSelector, componentOf, InvalidSpecError, type RenderResult } from '../../render/index.js';
import { FIELD_MANAGER, type KubeClient } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import { Controller, type ReconcileResult, splitKey } from '../../kube/controller.js';
import type { Manager } from '../../kube/manager.js';
import { R } from '../../kube/resources.js';
import { appliedByUs, appliedHashOf, identity, stripServerFields, describeObject, withAppliedHash } from '../../kube/apply.js';
import { classify, errorMessage } from '../../kube/errors.js';
import { keyOf, meta } from '../../kube/objects.js';
import type { EventSink } from '../../kube/events.js';
import type { Logger } from '../../util/log.js';
import { MULTICLUSTER_LABEL } from '../../render/remotesecret.js';
import { isRecord } from '../../render/json.js';
import { MEMBER_SELECTOR } from '../serviceexport/membership.js';
import { KubeconfigReachability, planMemberSecrets, probeKubeconfig, requestedMembers, unlabelledNamesakes, type MemberSecretsPlan } from './remotesecrets.js';
import { buildStatus, componentReports, statusChanged } from './status.js';
import { MANAGED_BY_SELECTOR, managedTypes, ownerKeys, typeOf } from './watches.js';

export const FINALIZER = 'install.istio.io/mizzen-cleanup';
export const IGNORE_ANNOTATION = 'install.istio.io/ignoreReconcile';
const REMOTE_SECRETS_KEY = 'mizzen.io/remote-secrets';
/** Failed applies in a row (of errors that are retried) after which the status reports ApplyFailed. */
const APPLY_FAILURES_REPORTED = 3;

type Iop = IstioOperator & KubernetesObject;

interface Applied {
  hash: string;
  /** liveFingerprint of the object as the apply left it. */
  fingerprint: string;
  /** When our field manager last changed the object (its managedFields entry), per the API server. */
  appliedAt: string | undefined;
}

/**
 * Reconciles an IstioOperator: validate → render → server-side apply → prune → status. Level-based: it reads
 * the IstioOperator and its children from informer caches and never asks what event woke it. An object
 * whose desired manifest and live fingerprint (liveFingerprint: not its status) are unchanged since this process last applied it is not
 * sent again, so a second reconcile of an unchanged resource makes no API writes at all.
 */
export class IstioOperatorReconciler {
  private readonly iops: Informer<Iop>;
  private readonly children = new Map<string, Informer>();
  private readonly applied = new Map<string, Applied>();
  /** The cluster-member Secrets (shared with the serviceexport controller): the source of remote secrets. */
  private readonly members: Informer<V1Secret>;
  /** Per IstioOperator, the remote-secret problems last reported (one Event per change, not per reconcile). */
  private readonly reported = new Map<string, string>();
  /** Consecutive failed applies per IstioOperator whose error class is retried (transient or unknown). */
  private readonly applyFailures = new Map<string, number>();
  /** Rounds of deleting children per IstioOperator being deleted, for the backoff. */
  private readonly finalizeAttempts = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    manager: Manager,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
    /** Where the cluster-member Secrets live (the operator's namespace), and this cluster's id. */
    private readonly membership: { namespace: string; clusterId?: string | undefined } = { namespace: 'mizzen-system' },
    /** Whether a member's kubeconfig reads its cluster (reported, never a reason to hold a remote secret back). */
    private readonly reachability = new KubeconfigReachability(probeKubeconfig),
  ) {
    this.iops = manager.informer<Iop>(R.istioOperator);
    this.members = manager.informer<V1Secret>(R.secret, { namespace: membership.namespace, labelSelector: MEMBER_SELECTOR });
    for (const t of managedTypes) this.children.set(`${t.apiVersion}/${t.kind}`, manager.informer(t, { labelSelector: MANAGED_BY_SELECTOR }));
  }

  controller(manager: Manager, log: Logger): Controller {
    const c = new Controller({ name: 'istiooperator', reconcile: (key) => this.reconcile(key), workers: 2, resyncMs: 10 * 60_000 }, log, manager.metrics);
    c.watchRoot(this.iops);
    // An IstioOperator refused because another claimed its revision or objects is tried again whenever another one
    // changes or goes away (not only at the next resync).
    c.watch(this.iops, (changed) =>
      this.iops
        .list()
        .filter((o) => meta(o).uid !== meta(changed).uid && o.status?.status === 'ERROR')
        .map((o) => keyOf(o)),
    );
    for (const inf of this.children.values()) c.watch(inf, ownerKeys);
    // Any member change concerns every IstioOperator that keeps remote secrets.
    c.watch(this.members, () => this.iops.list().filter((o) => meta(o).annotations[REMOTE_SECRETS_KEY] !== undefined).map((o) => keyOf(o)));
    return c;
  }

  private live(obj: KubernetesObject): KubernetesObject | undefined {
    return this.children.get(`${obj.apiVersion ?? ''}/${obj.kind ?? ''}`)?.get(obj.metadata?.name ?? '', obj.metadata?.namespace);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const iop = this.iops.get(name, namespace);
    if (!iop) return;
    const m = meta(iop);
    if (m.deleting) {
      this.applyFailures.delete(key);
      return this.finalize(iop);
    }
    if (m.annotations[IGNORE_ANNOTATION] === 'true') {
      this.log.info('Skipped IstioOperator with ignoreReconcile', { kind: 'IstioOperator', namespace, name });
      return;
    }
    let result: RenderResult;
    let secrets: MemberSecretsPlan | undefined;
    try {
      result = this.renderChecked(iop);
      secrets = await this.memberSecrets(iop, result);
    } catch (err) {
      if (!(err instanceof InvalidSpecError)) throw err;
      await this.fail(iop, 'InvalidSpec', err.message, err.field);
      return;
    }
    await this.ensureFinalizer(iop);
    await this.applyAndPrune(iop, secrets ? { ...result, objects: [...result.objects, ...secrets.desired] } : result, secrets?.keep);
    const reports = componentReports(result.components, result.objects, (o) => componentOf(o), (o) => this.live(o));
    await this.writeStatus(iop, buildStatus({ generation: m.generation, previous: iop.status, now: this.now(), components: reports }));
  }

  /**
   * The remote secrets the IstioOperator asks for (undefined when it asks none), from the member Secrets; reports
   * a change of problems as a Warning Event. A member cache not synced yet must not look like "no members".
   */
  private async memberSecrets(iop: Iop, result: RenderResult): Promise<MemberSecretsPlan | undefined> {
    if (requestedMembers(iop) === undefined) return undefined;
    if (!this.members.hasSynced()) throw new Error('Cache of cluster-member Secrets is not synced; not planning remote secrets');
    const key = keyOf(iop);
    const namespaces = [...new Set(result.objects.map((o) => o.metadata.namespace).filter((n): n is string => n !== undefined))];
    const others: KubernetesObject[] = [];
    for (const ns of namespaces) {
      const listed = await this.client.list(R.secret, { namespace: ns, labelSelector: `${MULTICLUSTER_LABEL}=true` });
      others.push(...listed.items.filter((s) => ownerKeys(s)[0] !== key));
    }
    let plan = planMemberSecrets(iop, result, this.members.list(), others, this.membership.clusterId ?? '');
    // A Secret of a member's remote-secret name that is not labelled as one is not in `others`: look it up.
    const owned = (s: KubernetesObject): boolean => {
      const l = this.live(s);
      return l !== undefined && ownerKeys(l)[0] === key;
    };
    const namesakes = await unlabelledNamesakes(plan, others, owned, (n, ns) => this.client.get(R.secret, n, ns));
    if (namesakes.length) plan = planMemberSecrets(iop, result, this.members.list(), [...others, ...namesakes], this.membership.clusterId ?? '');
    const problems = [...(plan?.problems ?? []), ...(await this.reachability.problems(plan))].join('; ');
    if (problems !== (this.reported.get(key) ?? '')) {
      if (problems) {
        this.events.emit(iop, 'Warning', 'RemoteSecrets', problems);
        this.log.warn('Skipped remote secrets', { kind: 'IstioOperator', key, error: problems });
      }
      this.reported.set(key, problems);
    }
    return plan;
  }

  private async applyAndPrune(iop: Iop, result: RenderResult, keep: readonly string[] = []): Promise<void> {
    try {
      const changed = await this.applyChanged(result.objects);
      const pruned = await this.pruneOrphans(iop, result.objects, keep);
      if (!changed.length && !pruned.length) return;
      const parts = [changed.length ? `applied ${changed.length} object(s)` : '', pruned.length ? `pruned ${pruned.map(describeObject).join(', ')}` : ''];
      this.events.emit(iop, 'Normal', 'Reconciled', capitalise(parts.filter(Boolean).join('; ')));
      this.log.info('Reconciled IstioOperator', { kind: 'IstioOperator', key: keyOf(iop), applied: changed.length, pruned: pruned.length });
      this.applyFailures.delete(keyOf(iop));
    } catch (err) {
      const cls = classify(err);
      if (cls === 'invalid' || cls === 'forbidden' || cls === 'notFound') {
        await this.fail(iop, 'ApplyFailed', `Could not apply: ${errorMessage(err)}`);
      } else {
        // Retried with backoff by the controller; from the third failure in a row the status and an Event say so,
        // so an object the API server keeps refusing (e.g. HTTP 500 on a pass-through field) never looks healthy.
        const n = (this.applyFailures.get(keyOf(iop)) ?? 0) + 1;
        this.applyFailures.set(keyOf(iop), n);
        if (n >= APPLY_FAILURES_REPORTED) {
          await this.fail(iop, 'ApplyFailed', `Could not apply: ${errorMessage(err)}; retrying with backoff`).catch((e: unknown) =>
            this.log.debug('Could not report the failed apply', { key: keyOf(iop), error: errorMessage(e) }),
          );
        }
      }
      throw err;
    }
  }

  /** Schema validation (the same schema the API server enforces), render, and the claim checks against other IstioOperators. */
  private renderChecked(iop: Iop): RenderResult {
    const v = validate(iop);
    if (!v.valid) throw new InvalidSpecError(fieldOf(v.errors[0] ?? 'spec'), v.errors.join('; '));
    const result = render(iop);
    const mine = new Set(result.objects.map((o) => identity(o)));
    for (const other of this.olderClaimants(iop)) {
      const who = keyOf(other);
      let theirs: RenderResult;
      try {
        theirs = render(other);
      } catch {
        // An older claimant whose spec is invalid right now still holds its revision (its objects stay installed):
        // taking the revision over would move them to this IstioOperator.
        const rev = other.spec?.revision;
        if ((typeof rev === 'string' && rev !== '' ? rev : 'default') === result.revision) {
          throw new InvalidSpecError('spec.revision', `revision "${result.revision}" is already installed by IstioOperator ${who} (whose spec is invalid at the moment); give this one another spec.revision`);
        }
        continue;
      }
      if (theirs.revision === result.revision) {
        throw new InvalidSpecError('spec.revision', `revision "${result.revision}" is already installed by IstioOperator ${who}; give this one another spec.revision`);
      }
      const clash = theirs.objects.find((o) => mine.has(identity(o)));
      if (clash) throw new InvalidSpecError('spec.components', `${describeObject(clash)} is already installed by IstioOperator ${who}; disable that component here or there`);
    }
    return result;
  }

  /** Other live IstioOperators created before this one: their claims on revisions and objects win. */
  private olderClaimants(iop: Iop): Iop[] {
    const uid = meta(iop).uid;
    return this.iops.list().filter((o) => {
      const m = meta(o);
      return m.uid !== uid && !m.deleting && m.annotations[IGNORE_ANNOTATION] !== 'true' && olderThan(o, iop);
    }).sort((a, b) => (olderThan(a, b) ? -1 : 1));
  }

  /**
   * Applies what differs from what this process last applied. An object counts as changed when the API server
   * moved our managedFields entry, which it does only when the apply changed a field we own. Each child carries
   * the hash of its content (APPLIED_HASH_ANNOTATION), so a new process (a restart, a new leader) skips the
   * children that hold it and that nobody else wrote after our last apply (untouchedSinceApply).
   */
  private async applyChanged(objects: readonly KubernetesObject[]): Promise<KubernetesObject[]> {
    const changed: KubernetesObject[] = [];
    for (const desired of objects) {
      const id = identity(desired);
      const { obj, hash } = withAppliedHash(desired);
      const before = this.applied.get(id);
      const live = this.live(obj);
      if (before && before.hash === hash && live && before.fingerprint === liveFingerprint(live)) continue;
      if (!before && live && appliedHashOf(live) === hash && untouchedSinceApply(live, obj)) {
        this.applied.set(id, { hash, fingerprint: liveFingerprint(live), appliedAt: appliedTime(live) });
        continue;
      }
      let result: KubernetesObject;
      try {
        result = await this.client.apply(stripServerFields(obj));
      } catch (err) {
        // Name the object the API server refused; the error keeps its class (status code).
        if (err instanceof Error) err.message = `${describeObject(obj)}: ${err.message}`;
        throw err;
      }
      const appliedAt = appliedTime(result);
      this.applied.set(id, { hash, fingerprint: liveFingerprint(result), appliedAt });
      const previous = before ? before.appliedAt : live && appliedTime(live);
      if (appliedAt !== previous) changed.push(obj);
    }
    return changed;
  }

  /** Deletes children this IstioOperator owns that are no longer rendered. Reads the caches, which must be synced. */
  private async pruneOrphans(iop: Iop, desired: readonly KubernetesObject[], alsoKeep: readonly string[]): Promise<KubernetesObject[]> {
    const keep = new Set([...desired.map(identity), ...alsoKeep]);
    const key = keyOf(iop);
    const orphans: KubernetesObject[] = [];
    for (const inf of this.children.values()) {
      if (!inf.hasSynced()) throw new Error(`Cache of ${inf.name} is not synced; not pruning`);
      orphans.push(...inf.list().filter((obj) => ownerKeys(obj)[0] === key && appliedByUs(obj) && !keep.has(identity(obj)) && !meta(obj).deleting));
    }
    for (const obj of orphans) await this.deleteChild(obj);
    return orphans;
  }

  private async deleteChild(obj: KubernetesObject): Promise<void> {
    const t = typeOf(obj);
    const m = meta(obj);
    if (t && !m.deleting) await this.client.delete(t, m.name, m.namespace, { uid: m.uid });
    this.applied.delete(identity(obj));
  }

  private async ensureFinalizer(iop: Iop): Promise<void> {
    const m = meta(iop);
    if (m.finalizers.includes(FINALIZER)) return;
    await this.client.mergePatch(R.istioOperator, m.name, m.namespace, { metadata: { finalizers: [...m.finalizers, FINALIZER], resourceVersion: m.resourceVersion } });
  }

  /** Deletion: remove every child (cluster-scoped ones included) found by owner labels, then the finalizer. */
  private async finalize(iop: Iop): Promise<ReconcileResult | void> {
    const m = meta(iop);
    const key = keyOf(iop);
    if (!m.finalizers.includes(FINALIZER)) return;
    const selector = ownerSelector(iop);
    let remaining = 0;
    const blocked: string[] = [];
    for (const t of managedTypes) {
      const items = (await this.client.list(t, { labelSelector: selector })).items.filter((o) => appliedByUs(o));
      remaining += items.length;
      for (const obj of items) {
        const om = meta(obj);
        const others = om.finalizers;
        if (om.deleting && others.length > 0) blocked.push(`${describeObject(obj)} (finalizers: ${others.join(', ')})`);
        await this.deleteChild(obj);
      }
    }
    if (remaining > 0) {
      // Children go away within a second or two; one held by another controller's finalizer may take long: back off
      // (0.5 s doubling to 30 s) instead of re-listing every kind twice a second, and say what blocks the deletion.
      const attempt = (this.finalizeAttempts.get(key) ?? 0) + 1;
      this.finalizeAttempts.set(key, attempt);
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 6));
      this.log.info('Deleted children of IstioOperator', { kind: 'IstioOperator', key, count: remaining, blocked: blocked.length, retryInMs: delay });
      if (blocked.length > 0 && attempt >= 3) {
        this.events.emit(iop, 'Warning', 'DeletionBlocked', `Waiting for ${blocked.length} object(s) held by finalizers of other controllers: ${blocked.slice(0, 5).join('; ')}${blocked.length > 5 ? '; …' : ''}`);
      }
      return { requeueAfterMs: delay };
    }
    this.finalizeAttempts.delete(key);
    await this.client.mergePatch(R.istioOperator, m.name, m.namespace, { metadata: { finalizers: m.finalizers.filter((f) => f !== FINALIZER), resourceVersion: m.resourceVersion } });
    this.log.info('Removed finalizer after cleanup', { kind: 'IstioOperator', key });
  }


  private async fail(iop: Iop, reason: string, message: string, field?: string): Promise<void> {
    this.events.emit(iop, 'Warning', reason, message);
    this.log.warn('Rejected IstioOperator', { kind: 'IstioOperator', key: keyOf(iop), reason, field, error: message });
    await this.writeStatus(iop, buildStatus({ generation: meta(iop).generation, previous: iop.status, now: this.now(), failure: { reason, message, field } }));
  }

  private async writeStatus(iop: Iop, status: IstioOperatorStatus): Promise<void> {
    if (!statusChanged(iop.status ?? {}, status)) return;
    const m = meta(iop);
    await this.client.apply({ apiVersion: iop.apiVersion, kind: iop.kind, metadata: { name: m.name, namespace: m.namespace }, status } as KubernetesObject, { subresource: 'status' });
  }
}

/**
 * What of a live child can differ from what we applied, without its status: for an object with a generation, the
 * generation (spec changes), labels, annotations, owner references and who last wrote it other than through the
 * status subresource; else its resourceVersion. A status update of a Deployment or DaemonSet (every rollout step,
 * every node joining) leaves it unchanged, so it triggers no apply.
 */
export function liveFingerprint(obj: KubernetesObject): string {
  const md = obj.metadata ?? {};
  if (md.generation === undefined) return `rv:${md.resourceVersion ?? ''}`;
  const writers = (md.managedFields ?? [])
    .filter((f) => !f.subresource)
    .map((f) => `${f.manager ?? ''}|${f.operation ?? ''}|${f.time === undefined ? '' : String(f.time)}`)
    .sort();
  return JSON.stringify([md.generation, md.labels ?? {}, md.annotations ?? {}, md.ownerReferences ?? [], writers]);
}

/**
 * Whether no one but us changed what we apply to a live child since our last apply: every other writer (status
 * aside) that wrote after our Apply entry's time owns none of the fields `desired` sets (an Update takes over the
 * fields it changes, so an edit by hand, `kubectl scale` or another manager's apply shows up there). Writers of
 * other fields (the deployment controller's revision annotation) do not count. managedFields times have one-second
 * resolution: a writer in the same second as our apply counts as after it. A write into a list we set counts as
 * touching it (fieldsV1 keys list items by merge key, which this check does not resolve).
 */
export function untouchedSinceApply(live: KubernetesObject, desired: KubernetesObject): boolean {
  const ours = appliedTime(live);
  if (ours === undefined) return false;
  const oursMs = Date.parse(ours);
  return (live.metadata?.managedFields ?? []).every((f) => {
    if (f.subresource === 'status' || (f.manager === FIELD_MANAGER && f.operation === 'Apply')) return true;
    if (f.time !== undefined && Date.parse(String(f.time)) < oursMs) return true;
    return !touches(f.fieldsV1, desired);
  });
}

/** Whether a managedFields fieldsV1 tree owns any field that `value` sets. */
function touches(fields: unknown, value: unknown): boolean {
  if (!isRecord(fields) || !isRecord(value)) return false;
  for (const [key, sub] of Object.entries(fields)) {
    if (!key.startsWith('f:')) continue;
    const name = key.slice(2);
    if (!Object.hasOwn(value, name)) continue;
    const child = value[name];
    const owned = isRecord(sub) ? Object.keys(sub).filter((k) => k !== '.') : [];
    if (Array.isArray(child) || !isRecord(child) || owned.length === 0) return true;
    if (touches(sub, child)) return true;
  }
  return false;
}

function appliedTime(obj: KubernetesObject): string | undefined {
  const entry = obj.metadata?.managedFields?.find((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply' && !f.subresource);
  return entry?.time === undefined ? undefined : String(entry.time);
}

function olderThan(a: KubernetesObject, b: KubernetesObject): boolean {
  const ta = meta(a).creationTimestamp;
  const tb = meta(b).creationTimestamp;
  return ta !== tb ? ta < tb : keyOf(a) < keyOf(b);
}

/** The field path at the start of a validation message ("spec.profile: ..."). */
function fieldOf(message: string): string {
  const i = message.indexOf(':');
  return i > 0 ? message.slice(0, i) : 'spec';
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
