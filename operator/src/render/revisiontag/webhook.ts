// A revision tag's injection webhook, after Istio's revision-tags template (istio-control/istio-discovery):
//   every tag:        rev.namespace.sidecar-injector.istio.io  namespace istio.io/rev In [tag], no istio-injection
//                     rev.object.sidecar-injector.istio.io     pod istio.io/rev In [tag], namespace unlabelled
//   the default tag:  namespace.sidecar-injector.istio.io      namespace istio-injection=enabled
//                     object.sidecar-injector.istio.io         pod sidecar.istio.io/inject=true, namespace unlabelled
// All call the tag's revision (its clientConfig and caBundle copied from that revision's own injector webhook),
// on pod CREATE, failurePolicy Fail. The API server's defaults are written out, so a live object that serves
// the desired one contains it field for field and a second reconcile sends nothing.
//
// The default revision's own webhook is neutralised, while a default tag serves, with a matchCondition that is
// always false (see ADR 0003): the IstioOperator controller owns that webhook's selectors and would put Istio's
// "never-match" selectors back at once; a matchCondition is a field it never sets, so the two never fight.
import type { AdmissionregistrationV1WebhookClientConfig, V1LabelSelectorRequirement, V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, OWNER_NAMESPACE_LABEL, REVISION_LABEL } from '../labels.js';
import { isRecord, sortKeys } from '../json.js';

export type WebhookConfiguration = V1MutatingWebhookConfiguration;
export type ClientConfig = AdmissionregistrationV1WebhookClientConfig;

export const TAG_LABEL = 'istio.io/tag';
/** Which RevisionTag (name, namespace) rendered a tag webhook: the controller deletes only its own. */
export const TAG_OWNER_LABEL = 'mizzen.dev/revisiontag';
export const TAG_OWNER_NAMESPACE_LABEL = 'mizzen.dev/revisiontag-namespace';
export const DEFAULT_TAG = 'default';
export const DEFAULT_REVISION = 'default';
export const INJECTOR_SUFFIX = 'sidecar-injector.istio.io';
/** The matchCondition that switches the default revision's webhooks off while a default tag serves. */
export const DEACTIVATED_CONDITION = 'mizzen-default-tag-serves';
/** Istio's own "never-match" label (istioctl's DeactivateIstioInjectionWebhook): selectors on it never match. */
export const ISTIO_DEACTIVATED_LABEL = 'istio.io/deactivated';

const WEBHOOK_API_VERSION = 'admissionregistration.k8s.io/v1';
const WEBHOOK_KIND = 'MutatingWebhookConfiguration';

/** Tags are cluster-wide names (istio.io/rev label values), so the webhook's name is the tag's alone. */
export function tagWebhookName(tag: string): string {
  return `istio-revision-tag-${tag}`;
}

type Req = V1LabelSelectorRequirement;
const notDisabled: Req = { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] };
const noInjectionLabel: Req = { key: 'istio-injection', operator: 'DoesNotExist' };
const noRevLabel: Req = { key: REVISION_LABEL, operator: 'DoesNotExist' };

function webhook(name: string, clientConfig: ClientConfig, namespaceSelector: Req[], objectSelector: Req[]): V1MutatingWebhook {
  return {
    admissionReviewVersions: ['v1beta1', 'v1'],
    clientConfig,
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    name,
    namespaceSelector: { matchExpressions: namespaceSelector },
    objectSelector: { matchExpressions: objectSelector },
    reinvocationPolicy: 'Never',
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: '*' }],
    sideEffects: 'None',
    timeoutSeconds: 10,
  };
}

/** The tag's webhooks, in Istio's order. Their selectors depend on the tag name only. */
export function tagWebhooks(tag: string, clientConfig: ClientConfig): V1MutatingWebhook[] {
  const tagIn: Req = { key: REVISION_LABEL, operator: 'In', values: [tag] };
  const hooks = [
    webhook(`rev.namespace.${INJECTOR_SUFFIX}`, clientConfig, [tagIn, noInjectionLabel], [notDisabled]),
    webhook(`rev.object.${INJECTOR_SUFFIX}`, clientConfig, [noRevLabel, noInjectionLabel], [notDisabled, tagIn]),
  ];
  if (tag !== DEFAULT_TAG) return hooks;
  return [
    ...hooks,
    webhook(`namespace.${INJECTOR_SUFFIX}`, clientConfig, [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }], [notDisabled]),
    webhook(`object.${INJECTOR_SUFFIX}`, clientConfig, [noInjectionLabel, noRevLabel], [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }, noRevLabel]),
  ];
}

export interface TagWebhookInput {
  tag: string;
  revision: string;
  clientConfig: ClientConfig;
  /** The RevisionTag that owns the webhook; left out by `mizzen tag generate`. */
  owner?: { name: string; namespace: string };
}

/** The tag's MutatingWebhookConfiguration, keys sorted: same input, same bytes. */
export function tagWebhookConfiguration(input: TagWebhookInput): WebhookConfiguration {
  const labels: Record<string, string> = {
    app: 'sidecar-injector',
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [REVISION_LABEL]: input.revision,
    [TAG_LABEL]: input.tag,
  };
  if (input.owner) {
    labels[TAG_OWNER_LABEL] = input.owner.name;
    labels[TAG_OWNER_NAMESPACE_LABEL] = input.owner.namespace;
  }
  return sortKeys({
    apiVersion: WEBHOOK_API_VERSION,
    kind: WEBHOOK_KIND,
    metadata: { labels, name: tagWebhookName(input.tag) },
    webhooks: tagWebhooks(input.tag, input.clientConfig),
  });
}

/** The clientConfig `mizzen tag generate` uses without a cluster: the revision's istiod Service, port 443, /inject. */
export function istiodClientConfig(revision: string, namespace: string): ClientConfig {
  return { service: { name: revision === DEFAULT_REVISION ? 'istiod' : `istiod-${revision}`, namespace, path: '/inject', port: 443 } };
}

function isInjectorHook(w: V1MutatingWebhook): boolean {
  return w.name.endsWith(INJECTOR_SUFFIX);
}

/**
 * The clientConfig a tag copies from its revision's injector webhook (as istioctl does): its URL (an external
 * control plane) or its Service, with the caBundle when there is one. Undefined when it has no injector hook.
 */
export function revisionClientConfig(revisionWebhook: WebhookConfiguration): ClientConfig | undefined {
  const hook = (revisionWebhook.webhooks ?? []).find(isInjectorHook);
  if (!hook) return undefined;
  const cc = hook.clientConfig;
  const out: ClientConfig = {};
  if (cc.url !== undefined) out.url = cc.url;
  else if (cc.service) {
    // The API server defaults the port to 443 and leaves an absent path absent: written the same way here.
    out.service = { name: cc.service.name, namespace: cc.service.namespace, port: cc.service.port ?? 443 };
    if (cc.service.path !== undefined) out.service.path = cc.service.path;
  } else return undefined;
  if (cc.caBundle) out.caBundle = cc.caBundle;
  return out;
}

export function labelsOf(obj: { metadata?: { labels?: Record<string, string> } }): Record<string, string> {
  return obj.metadata?.labels ?? {};
}

/** A sidecar injector: labelled istio.io/rev (as istioctl finds them) or holding a *.sidecar-injector.istio.io hook. */
export function isInjector(mwc: WebhookConfiguration): boolean {
  return REVISION_LABEL in labelsOf(mwc) || (mwc.webhooks ?? []).some(isInjectorHook);
}

export function isTagWebhook(mwc: WebhookConfiguration): boolean {
  return TAG_LABEL in labelsOf(mwc);
}

/** A revision's own injector webhook: istio.io/rev=<revision> and no istio.io/tag (istioctl's selector). */
export function isRevisionWebhook(mwc: WebhookConfiguration, revision?: string): boolean {
  const rev = labelsOf(mwc)[REVISION_LABEL];
  return rev !== undefined && !isTagWebhook(mwc) && (revision === undefined || rev === revision);
}

/** The namespace of a revision's control plane: the IstioOperator's namespace, else its injection Service's. */
export function controlPlaneNamespaceOf(mwc: WebhookConfiguration): string | undefined {
  return labelsOf(mwc)[OWNER_NAMESPACE_LABEL] ?? (mwc.webhooks ?? []).find(isInjectorHook)?.clientConfig.service?.namespace;
}

/** The RevisionTag (namespace/name) that rendered a tag webhook, from its owner labels. */
export function tagOwnerOf(mwc: WebhookConfiguration): string | undefined {
  const l = labelsOf(mwc);
  const name = l[TAG_OWNER_LABEL];
  const ns = l[TAG_OWNER_NAMESPACE_LABEL];
  return name && ns ? `${ns}/${name}` : undefined;
}

function hasDeactivation(w: V1MutatingWebhook): boolean {
  return (w.matchConditions ?? []).some((c) => c.name === DEACTIVATED_CONDITION);
}

/** Whether every webhook of this configuration carries the default tag's false matchCondition. */
export function isDeactivated(mwc: WebhookConfiguration): boolean {
  const hooks = mwc.webhooks ?? [];
  return hooks.length > 0 && hooks.every(hasDeactivation);
}

/** Whether any webhook of it still carries that matchCondition (a reactivation has something to remove). */
export function hasAnyDeactivation(mwc: WebhookConfiguration): boolean {
  return (mwc.webhooks ?? []).some(hasDeactivation);
}

/**
 * The apply configuration (for the tag controller's own field manager) that switches every webhook of the
 * default revision's configuration off. Applying `reactivation()` with the same manager removes it again.
 */
export function deactivation(mwc: WebhookConfiguration): WebhookConfiguration {
  return {
    apiVersion: WEBHOOK_API_VERSION,
    kind: WEBHOOK_KIND,
    metadata: { name: mwc.metadata?.name ?? '' },
    webhooks: (mwc.webhooks ?? []).map((w) => ({ name: w.name, matchConditions: [{ name: DEACTIVATED_CONDITION, expression: 'false' }] }) as V1MutatingWebhook),
  };
}

export function reactivation(mwc: WebhookConfiguration): WebhookConfiguration {
  return { apiVersion: WEBHOOK_API_VERSION, kind: WEBHOOK_KIND, metadata: { name: mwc.metadata?.name ?? '' } };
}

/** Whether a webhook can never be called: a matchCondition that is literally false, or Istio's never-match label. */
export function neverMatches(w: V1MutatingWebhook): boolean {
  if ((w.matchConditions ?? []).some((c) => c.expression.trim() === 'false')) return true;
  const sels = [w.namespaceSelector, w.objectSelector];
  return sels.some((s) => Object.hasOwn(s?.matchLabels ?? {}, ISTIO_DEACTIVATED_LABEL) || (s?.matchExpressions ?? []).some((e) => e.key === ISTIO_DEACTIVATED_LABEL && e.operator === 'In'));
}

/** Whether `live` has every field `desired` sets, with the same value (arrays element by element, same length). */
export function contains(live: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => contains(live[i], d));
  if (isRecord(desired)) return isRecord(live) && Object.entries(desired).every(([k, v]) => contains(live[k], v));
  return live === desired;
}

/** Deep equality of JSON data (key order aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  return contains(a, b) && contains(b, a);
}

/**
 * Whether the live tag webhook already is the desired one: its labels, exactly the desired webhooks, and each
 * clientConfig exactly (a caBundle the revision dropped must be dropped here too).
 */
export function serves(live: WebhookConfiguration | undefined, desired: WebhookConfiguration): boolean {
  if (!live) return false;
  const liveHooks = live.webhooks ?? [];
  const want = desired.webhooks ?? [];
  if (liveHooks.length !== want.length || !contains(labelsOf(live), labelsOf(desired))) return false;
  return want.every((w) => {
    const l = liveHooks.find((x) => x.name === w.name);
    return l !== undefined && contains(l, w) && sameJson(w.clientConfig, l.clientConfig);
  });
}
