import type { KubernetesObject, V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { RevisionTagStatus } from '../../api/index.js';
import type { KubeClient } from '../../kube/client.js';
import type { Informer } from '../../kube/informer.js';
import { Controller, type ReconcileResult, splitKey } from '../../kube/controller.js';
import type { Manager } from '../../kube/manager.js';
import { R } from '../../kube/resources.js';
import { isNotFound } from '../../kube/errors.js';
import { keyOf, meta } from '../../kube/objects.js';
import type { EventSink } from '../../kube/events.js';
import type { Logger } from '../../util/log.js';
import { REVISION_LABEL } from '../../render/index.js';
import {
  DEFAULT_TAG,
  TLS_MODE_LABEL,
  namespacesUsingTag,
  olderTags,
  planTag,
  podsNeedingRestart,
  reactivations,
  sameJson,
  serves,
  tagOwnerOf,
  tagWebhookName,
  type TagPlan,
  type WebhookConfiguration,
} from '../../render/revisiontag/index.js';
import { buildTagStatus, previousReadyReason } from './status.js';
import { TagKeys, type Tag } from './watches.js';

/** Same finalizer as the IstioOperator's: mizzen removes what it created before the object goes. */
export const FINALIZER = 'install.istio.io/mizzen-cleanup';
/**
 * The field manager of everything this controller writes. It must differ from the IstioOperator controller's
 * ("mizzen"): the default tag's switch-off is a partial apply on that controller's webhook, and under the same
 * manager it would drop every field the IstioOperator applied.
 */
export const REVISIONTAG_FIELD_MANAGER = 'mizzen-revisiontag';

type Mwc = WebhookConfiguration & KubernetesObject;

/**
 * Reconciles a RevisionTag into its MutatingWebhookConfiguration: safety chain → apply the tag's webhook (one
 * apply, so moving a tag switches both its webhooks at once) → switch the default revision's webhook off for
 * the default tag → status. Level-based: everything is read from caches; nothing is written when nothing
 * changed. When a check fails nothing is applied, so the webhook the tag served before keeps serving.
 */
/** How long namespace and pod events wait (folding into one reconcile per tag) before the tag is reconciled. */
const RELATED_DELAY_MS = 1000;

export class RevisionTagReconciler {
  private readonly tags: Informer<Tag>;
  private readonly webhooks: Informer<Mwc>;
  private readonly namespaces: Informer<V1Namespace & KubernetesObject>;
  private readonly pods: Informer<V1Pod & KubernetesObject>;
  readonly keys: TagKeys;
  /** Webhook name → the resourceVersion this process's last apply of it returned. */
  private readonly lastApplied = new Map<string, string>();

  /** `client` must use REVISIONTAG_FIELD_MANAGER (see there). */
  constructor(
    private readonly client: KubeClient,
    manager: Manager,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.tags = manager.informer<Tag>(R.revisionTag);
    this.webhooks = manager.informer<Mwc>(R.mutatingWebhook);
    this.namespaces = manager.informer<V1Namespace & KubernetesObject>(R.namespace);
    this.pods = manager.informer<V1Pod & KubernetesObject>(R.pod, { labelSelector: TLS_MODE_LABEL });
    this.keys = new TagKeys(this.tags, this.namespaces);
  }

  controller(manager: Manager, log: Logger): Controller {
    const c = new Controller({ name: 'revisiontag', reconcile: (key) => this.reconcile(key), workers: 2, resyncMs: 10 * 60_000 }, log, manager.metrics);
    c.watchRoot(this.tags);
    c.watch(this.tags, (t) => this.keys.named(t.metadata?.name));
    c.watch(this.webhooks, (m) => this.keys.forWebhook(m));
    // Namespaces and pods come and go in bursts; a tag's status only counts them: batch their events per tag.
    c.watch(this.namespaces, () => this.keys.all(), undefined, { delayMs: RELATED_DELAY_MS });
    c.watch(this.pods, (p) => this.keys.forPod(p), undefined, { delayMs: RELATED_DELAY_MS });
    return c;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const tag = this.tags.get(name, namespace);
    if (!tag) return this.deleteOrphan(key);
    if (meta(tag).deleting) return this.finalize(tag);
    await this.ensureFinalizer(tag);
    const plan = planTag({
      tag: { name, namespace: namespace ?? '' },
      revision: tag.spec.revision,
      controlPlaneNamespace: tag.spec.namespace,
      webhooks: this.webhooks.list(),
      olderTags: olderTags(this.tags.list(), { name, namespace: namespace ?? '' }, meta(tag).creationTimestamp),
    });
    let live = this.servingWebhook(tag);
    if (plan.ok) {
      live = await this.applyWebhook(tag, plan.desired, live);
      for (const d of plan.deactivations) {
        if (!(await this.applyChanged(d))) continue;
        this.log.info('Switched off the default revision webhook', { kind: 'RevisionTag', key, webhook: d.metadata?.name });
        this.events.emit(tag, 'Normal', 'DefaultRevisionDeactivated', `Switched off MutatingWebhookConfiguration ${d.metadata?.name ?? ''}: tag default serves its namespaces and pods`);
      }
    }
    await this.writeStatus(tag, plan, live);
  }

  /** The live webhook of this tag: its own, or an unowned namesake (e.g. istioctl's) it adopts. */
  private servingWebhook(tag: Tag): Mwc | undefined {
    const live = this.webhooks.get(tagWebhookName(meta(tag).name));
    return live && (tagOwnerOf(live) ?? keyOf(tag)) === keyOf(tag) ? live : undefined;
  }

  /**
   * Applies and says whether the server changed anything. A cache can lag behind this process's own last
   * apply; the re-apply that follows is a no-op that returns the resourceVersion that apply returned, and
   * counts as no change (no second Event).
   */
  private async applyChanged(obj: Mwc): Promise<Mwc | undefined> {
    const name = meta(obj).name;
    const before = this.webhooks.get(name)?.metadata?.resourceVersion;
    const applied = await this.client.apply(obj);
    const rv = meta(applied).resourceVersion ?? '';
    const changed = rv !== before && rv !== this.lastApplied.get(name);
    this.lastApplied.set(name, rv);
    return changed ? applied : undefined;
  }

  private async applyWebhook(tag: Tag, desired: Mwc, live: Mwc | undefined): Promise<Mwc> {
    if (serves(live, desired)) return live as Mwc;
    const applied = await this.applyChanged(desired);
    if (!applied) return desired;
    const from = live ? meta(live).labels[REVISION_LABEL] : undefined;
    const to = meta(desired).labels[REVISION_LABEL] ?? '';
    const name = desired.metadata?.name ?? '';
    const message =
      from === undefined
        ? `Created MutatingWebhookConfiguration ${name}: tag ${meta(tag).name} sends pods to revision ${to}`
        : from !== to
          ? `Moved tag ${meta(tag).name} from revision ${from} to ${to} (MutatingWebhookConfiguration ${name})`
          : `Updated MutatingWebhookConfiguration ${name} from revision ${to}'s injector (clientConfig, caBundle)`;
    this.events.emit(tag, 'Normal', from === undefined ? 'Created' : from !== to ? 'Moved' : 'Updated', message);
    this.log.info('Applied tag webhook', { kind: 'RevisionTag', key: keyOf(tag), webhook: name, revision: to, previousRevision: from });
    return applied;
  }

  private async writeStatus(tag: Tag, plan: TagPlan, live: Mwc | undefined): Promise<void> {
    const m = meta(tag);
    const served = live ? meta(live).labels[REVISION_LABEL] : undefined;
    const namespaces = namespacesUsingTag(this.namespaces.list(), m.name);
    const restart = podsNeedingRestart(this.pods.list(), namespaces, served ?? tag.spec.revision);
    const status = buildTagStatus({
      tag: m.name,
      generation: m.generation,
      previous: tag.status,
      now: this.now(),
      revision: tag.spec.revision,
      webhookName: tagWebhookName(m.name),
      failure: plan.ok ? undefined : { reason: plan.reason, message: plan.message },
      served,
      namespaces,
      podsNeedingRestart: restart.length,
    });
    if (!plan.ok && previousReadyReason(tag.status) !== plan.reason) {
      this.events.emit(tag, 'Warning', plan.reason, plan.message);
      this.log.warn('Refused to apply tag webhook', { kind: 'RevisionTag', key: keyOf(tag), reason: plan.reason, error: plan.message });
    }
    if (sameJson(tag.status ?? {}, status)) return;
    const patch: KubernetesObject & { status: RevisionTagStatus } = { apiVersion: tag.apiVersion, kind: tag.kind, metadata: { name: m.name, namespace: m.namespace }, status };
    await this.client.apply(patch, { subresource: 'status' });
  }

  private async ensureFinalizer(tag: Tag): Promise<void> {
    const m = meta(tag);
    if (m.finalizers.includes(FINALIZER)) return;
    await this.client.mergePatch(R.revisionTag, m.name, m.namespace, { metadata: { finalizers: [...m.finalizers, FINALIZER], resourceVersion: m.resourceVersion } });
  }

  /**
   * Deletion: a tag that serves switches the default revision back on (default tag), then deletes its webhook,
   * with a Warning naming the namespaces that still select it. A tag that never served deletes nothing.
   */
  private async finalize(tag: Tag): Promise<void> {
    const m = meta(tag);
    if (!m.finalizers.includes(FINALIZER)) return;
    const live = this.servingWebhook(tag);
    if (live && tagOwnerOf(live) === keyOf(tag)) {
      // Switch the default revision on before the tag's webhook goes: for a moment both match, and Istio's
      // injector skips a pod that already carries a sidecar; the other order would leave pods uninjected.
      if (m.name === DEFAULT_TAG) for (const r of reactivations(this.webhooks.list())) await this.client.apply(r);
      const lm = meta(live);
      const deleted = await this.client.delete(R.mutatingWebhook, lm.name, undefined, { uid: lm.uid });
      this.lastApplied.delete(lm.name);
      const users = namespacesUsingTag(this.namespaces.list(), m.name);
      if (deleted) this.log.info('Deleted tag webhook', { kind: 'RevisionTag', key: keyOf(tag), webhook: lm.name, namespaces: users });
      if (deleted && users.length > 0) {
        this.events.emit(tag, 'Warning', 'InUse', `Deleted MutatingWebhookConfiguration ${lm.name} while namespace(s) ${users.join(', ')} still select tag ${m.name}: their new pods are no longer injected`);
      }
    }
    try {
      await this.client.mergePatch(R.revisionTag, m.name, m.namespace, { metadata: { finalizers: m.finalizers.filter((f) => f !== FINALIZER), resourceVersion: m.resourceVersion } });
    } catch (err) {
      if (!isNotFound(err)) throw err; // a stale cache finalized a tag that is already gone
    }
  }

  /** A tag webhook whose RevisionTag is gone (its finalizer was removed by hand) is deleted. */
  private async deleteOrphan(key: string): Promise<void> {
    const orphan = this.webhooks.list().find((mwc) => tagOwnerOf(mwc) === key && !meta(mwc).deleting);
    if (!orphan) return;
    const om = meta(orphan);
    await this.client.delete(R.mutatingWebhook, om.name, undefined, { uid: om.uid });
    this.log.info('Deleted orphaned tag webhook', { kind: 'RevisionTag', key, webhook: om.name });
  }
}
