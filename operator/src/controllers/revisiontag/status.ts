import type { RevisionTagStatus } from '../../api/index.js';
import type { TagReason } from '../../render/revisiontag/index.js';
import { type Condition, type ConditionInput, findCondition, setConditions } from '../../util/conditions.js';

/** Pure status computation for a RevisionTag. */
export const READY = 'Ready';
export const IN_USE = 'InUse';

/** Ready=True: the tag's webhook sends pods to spec.revision. Ready=False reasons are the safety checks'. */
export const REASON_SERVING = 'Serving';
export const REASON_SELECTED = 'NamespacesSelected';
export const REASON_NOT_SELECTED = 'NoNamespaces';
/** At most this many namespaces in status.namespaces (sorted, so the first ones), and in the InUse message. */
export const STATUS_NAMESPACES = 100;
const MESSAGE_NAMESPACES = 20;

export interface TagStatusInput {
  tag: string;
  generation: number;
  previous: RevisionTagStatus | undefined;
  now: Date;
  /** spec.revision */
  revision: string;
  webhookName: string;
  /** The first failed safety check; undefined when the tag serves spec.revision. */
  failure?: { reason: TagReason; message: string };
  /** The revision the tag's live webhook sends pods to; undefined when the tag has no webhook. */
  served?: string;
  namespaces: string[];
  podsNeedingRestart: number;
}

function readyCondition(input: TagStatusInput): ConditionInput {
  const og = input.generation;
  if (!input.failure) {
    return { type: READY, status: 'True', reason: REASON_SERVING, message: `MutatingWebhookConfiguration ${input.webhookName} sends pods to revision ${input.revision}`, observedGeneration: og };
  }
  const still =
    input.served === undefined ? 'no webhook serves the tag' : `MutatingWebhookConfiguration ${input.webhookName} still sends pods to revision ${input.served}`;
  return { type: READY, status: 'False', reason: input.failure.reason, message: `${capitalise(input.failure.message)}; ${still}`, observedGeneration: og };
}

function inUseCondition(input: TagStatusInput): ConditionInput {
  const og = input.generation;
  if (input.namespaces.length > 0) {
    const restart = input.podsNeedingRestart > 0 ? `; ${input.podsNeedingRestart} pod(s) there still run a sidecar from another revision` : '';
    const n = input.namespaces.length;
    const shown = n > MESSAGE_NAMESPACES ? `${input.namespaces.slice(0, MESSAGE_NAMESPACES).join(', ')} and ${n - MESSAGE_NAMESPACES} more` : input.namespaces.join(', ');
    return { type: IN_USE, status: 'True', reason: REASON_SELECTED, message: `Selected by ${n} namespace(s): ${shown}${restart}`, observedGeneration: og };
  }
  const labels = input.tag === 'default' ? `istio.io/rev=default or istio-injection=enabled` : `istio.io/rev=${input.tag}`;
  return { type: IN_USE, status: 'False', reason: REASON_NOT_SELECTED, message: `No namespace is labelled ${labels}`, observedGeneration: og };
}

/** The whole status subresource; conditions keep their lastTransitionTime unless they flip. */
export function buildTagStatus(input: TagStatusInput): RevisionTagStatus {
  const conditions: Condition[] = setConditions(input.previous?.conditions, [readyCondition(input), inUseCondition(input)], input.now);
  const status: RevisionTagStatus = {
    // Bounded: a tag used by thousands of namespaces keeps a status of a few KiB (the count is in InUse).
    namespaces: input.namespaces.slice(0, STATUS_NAMESPACES),
    podsNeedingRestart: input.podsNeedingRestart,
    observedGeneration: input.generation,
    conditions,
  };
  if (input.served !== undefined) status.revision = input.served;
  return status;
}

/** The Ready reason recorded last, to emit a Warning only when a check starts failing (or fails differently). */
export function previousReadyReason(previous: RevisionTagStatus | undefined): string | undefined {
  return findCondition(previous?.conditions, READY)?.reason;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
