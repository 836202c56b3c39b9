// Pure decisions of the serviceexport controller around the core's plan: which Events a ServiceExport's status
// change deserves, and when a derived Service must be re-created instead of updated.
import type { V1Service } from '@kubernetes/client-node';
import { ConditionType, ExportReason, ImportReason, sameJson, type StatusUpdate } from '../../mcs/index.js';
import { findCondition, setCondition, type Condition } from '../../util/conditions.js';

export interface EventSpec {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/** A condition newly in this state: it was absent, or its status or reason differed. */
function entered(before: readonly Condition[] | undefined, after: readonly Condition[], type: string, status: Condition['status']): Condition | undefined {
  const now = findCondition(after, type);
  if (now?.status !== status) return undefined;
  const prev = findCondition(before, type);
  return prev?.status === status && prev.reason === now.reason ? undefined : now;
}

/**
 * Events for a ServiceExport whose conditions go from `before` to `after`: a Warning when it becomes invalid or
 * conflicted (or the reason changes), a Normal event when it becomes Ready or a conflict is resolved.
 */
export function exportEvents(before: readonly Condition[] | undefined, after: readonly Condition[]): EventSpec[] {
  const out: EventSpec[] = [];
  const invalid = entered(before, after, ConditionType.Valid, 'False');
  if (invalid) out.push({ type: 'Warning', reason: invalid.reason, message: invalid.message });
  const conflict = entered(before, after, ConditionType.Conflict, 'True');
  if (conflict) out.push({ type: 'Warning', reason: 'Conflict', message: `${conflict.reason}: ${conflict.message}` });
  if (findCondition(before, ConditionType.Conflict)?.status === 'True' && findCondition(after, ConditionType.Conflict)?.status === 'False') {
    out.push({ type: 'Normal', reason: 'ConflictResolved', message: 'The exports of this service agree again.' });
  }
  const ready = entered(before, after, ConditionType.Ready, 'True');
  if (ready) out.push({ type: 'Normal', reason: 'Exported', message: ready.message });
  return out;
}

/**
 * The statuses of a service whose derived Service the API server rejected: the import's Ready is False
 * DerivedServiceRejected and a valid local export's Ready is False Failed, both with the server's message, so the
 * rejection is never only a log line. `live` is each object's live conditions (to tell whether a write is needed).
 */
export function rejectedStatus<S extends { conditions: Condition[] }>(update: StatusUpdate<S>, live: readonly Condition[] | undefined, derived: string, error: string, now: Date): StatusUpdate<S> {
  const isImport = update.kind === 'ServiceImport';
  if (!isImport && findCondition(update.status.conditions, ConditionType.Valid)?.status !== 'True') return update;
  const message = isImport
    ? `The API server rejected the derived Service ${derived}: ${error}`
    : `The ServiceImport's derived Service ${derived} was rejected by the API server: ${error}`;
  const ready = findCondition(update.status.conditions, ConditionType.Ready);
  const cond = { type: ConditionType.Ready, status: 'False' as const, reason: isImport ? ImportReason.DerivedServiceRejected : ExportReason.Failed, message, ...(ready?.observedGeneration === undefined ? {} : { observedGeneration: ready.observedGeneration }) };
  const conditions = setCondition(update.status.conditions, cond, now);
  return { ...update, status: { ...update.status, conditions }, changed: !sameJson(conditions, live ?? []) };
}

/**
 * The API server rejects a change of a Service's primary IP family (spec.ipFamilies[0]); the derived Service is
 * then deleted and created again (it gets a new clusterset IP).
 */
export function mustRecreate(live: V1Service | undefined, desired: V1Service): boolean {
  const was = live?.spec?.ipFamilies?.[0];
  const want = desired.spec?.ipFamilies?.[0];
  return was !== undefined && want !== undefined && was !== want;
}
