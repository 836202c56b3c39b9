// Label selectors as admission webhooks use them: matching a label set, and deciding whether two selectors can
// match one and the same label set. The second is the heart of the Overlap check: two injection webhooks
// overlap when some namespace satisfies both namespaceSelectors and some pod satisfies both objectSelectors.
// Requirements on different keys are independent, so that is decided key by key, exactly, without enumerating
// label combinations.
import type { V1LabelSelector } from '@kubernetes/client-node';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  readonly values: readonly string[];
}

/** A selector's matchLabels and matchExpressions as one list of requirements (a selector ANDs them). */
export function requirementsOf(selector: V1LabelSelector | undefined | null): Requirement[] {
  const out: Requirement[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) out.push({ key, operator: 'In', values: [value] });
  for (const e of selector?.matchExpressions ?? []) out.push({ key: e.key, operator: e.operator as SelectorOperator, values: e.values ?? [] });
  return out;
}

function requirementHolds(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.operator) {
    case 'In':
      return has && r.values.includes(value ?? '');
    case 'NotIn':
      return !has || !r.values.includes(value ?? '');
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      return false;
  }
}

/** Whether a label set satisfies a selector; an absent or empty selector matches everything. */
export function selectorMatches(selector: V1LabelSelector | undefined | null, labels: Readonly<Record<string, string>>): boolean {
  return requirementsOf(selector).every((r) => requirementHolds(r, labels));
}

/** Whether one key can take a value (or be absent) that satisfies all these requirements on it. */
function keySatisfiable(reqs: readonly Requirement[]): boolean {
  const absent = reqs.some((r) => r.operator === 'DoesNotExist');
  const present = reqs.some((r) => r.operator === 'Exists' || r.operator === 'In');
  if (absent) return !present; // NotIn holds for an absent key
  const allowed = reqs.filter((r) => r.operator === 'In').map((r) => new Set(r.values));
  if (allowed.length === 0) return true; // a fresh value (or absence) satisfies Exists and NotIn
  const excluded = new Set(reqs.filter((r) => r.operator === 'NotIn').flatMap((r) => r.values));
  const [first, ...rest] = allowed;
  return [...(first ?? [])].some((v) => !excluded.has(v) && rest.every((s) => s.has(v)));
}

/** Whether some label set satisfies every requirement in all the lists at once. */
export function jointlySatisfiable(...lists: readonly (readonly Requirement[])[]): boolean {
  const byKey = new Map<string, Requirement[]>();
  for (const r of lists.flat()) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  return [...byKey.values()].every(keySatisfiable);
}
