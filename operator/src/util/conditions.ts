/** Status conditions with the metav1.Condition shape; pure helpers. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/**
 * Returns the conditions with `next` set. lastTransitionTime changes only when the status flips; reason,
 * message and observedGeneration are updated in place. Order is kept; a new type is appended.
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: Date): Condition[] {
  const next = { ...input, message: boundMessage(input.message) };
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : toRfc3339(now);
  const cond: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

export function setConditions(conditions: readonly Condition[] | undefined, next: readonly ConditionInput[], now: Date): Condition[] {
  return next.reduce<Condition[]>((acc, c) => setCondition(acc, c, now), [...(conditions ?? [])]);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** RFC 3339 with second precision, as the API server stores metav1.Time. */
export function toRfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Longest message a condition or status carries (the CRDs cap conditions[].message at 32 KiB). */
export const MAX_MESSAGE = 4096;
const QUOTED_KEEP = 80;

/**
 * A message that fits: every quoted value longer than QUOTED_KEEP characters keeps its start and says how long
 * it was, and the whole is cut at max. A validation message quoting a 100 KB field stays readable and writable.
 */
export function boundMessage(message: string, max = MAX_MESSAGE): string {
  let out = message;
  if (out.length > max) {
    out = out.replace(/"((?:[^"\\]|\\.){200,})"/g, (_m, inner: string) => `"${inner.slice(0, QUOTED_KEEP)}…" (${inner.length} characters)`);
  }
  if (out.length > max) out = `${out.slice(0, max - 14)}… (truncated)`;
  return out;
}
