// Pure revision-tag logic, shared by the RevisionTag controller and `mizzen tag`: the tag's webhook, the safety
// chain (NameConflict, RevisionNotFound, Overlap), the default tag's switch-off of the default revision, and
// who uses a tag. No I/O: callers pass the cluster's objects in. See docs/adr/0003-revision-tags.md.
export {
  DEACTIVATED_CONDITION,
  DEFAULT_REVISION,
  DEFAULT_TAG,
  INJECTOR_SUFFIX,
  TAG_LABEL,
  TAG_OWNER_LABEL,
  TAG_OWNER_NAMESPACE_LABEL,
  contains,
  deactivation,
  hasAnyDeactivation,
  isDeactivated,
  isInjector,
  isRevisionWebhook,
  isTagWebhook,
  istiodClientConfig,
  neverMatches,
  reactivation,
  revisionClientConfig,
  sameJson,
  serves,
  tagOwnerOf,
  tagWebhookConfiguration,
  tagWebhookName,
  tagWebhooks,
  type ClientConfig,
  type TagWebhookInput,
  type WebhookConfiguration,
} from './webhook.js';
export { TAG_CHECKS, olderTags, planTag, revisionWebhooksOf, webhooksOverlap, type TagCheck, type TagInput, type TagPlan, type TagReason, type TagRef } from './checks.js';
export { STATUS_ANNOTATION, TLS_MODE_LABEL, injectedRevision, namespacesUsingTag, podsNeedingRestart, tagOfNamespace } from './pods.js';
export { jointlySatisfiable, requirementsOf, selectorMatches, type Requirement } from './selectors.js';

import { DEFAULT_REVISION, hasAnyDeactivation, isRevisionWebhook, reactivation, type WebhookConfiguration } from './webhook.js';

/** Apply configurations that switch the default revision's webhooks back on (the default tag stops serving). */
export function reactivations(webhooks: readonly WebhookConfiguration[]): WebhookConfiguration[] {
  return webhooks.filter((m) => isRevisionWebhook(m, DEFAULT_REVISION) && hasAnyDeactivation(m)).map(reactivation);
}
