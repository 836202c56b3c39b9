// values.cni.repair of an IstioOperator is either a boolean (repair on or off) or an object. The CRD cannot say
// "boolean or object" in a structural schema, so it keeps any value there; this module owns the shape: the
// semantic check used by validate.ts and the normalisation the renderer uses.

/** Istio's CNIRepairConfig as mizzen understands it. */
export interface CniRepairConfig {
  enabled?: boolean;
  labelPods?: boolean;
  deletePods?: boolean;
  repairPods?: boolean;
  hub?: string;
  tag?: number | string;
  image?: string;
  initContainerName?: string;
  brokenPodLabelKey?: string;
  brokenPodLabelValue?: string;
  createEvents?: string;
}

/** What values.cni.repair may hold. */
export type CniRepair = boolean | CniRepairConfig;

type FieldKind = 'boolean' | 'string' | 'int-or-string';

const REPAIR_FIELDS: Readonly<Record<keyof CniRepairConfig, FieldKind>> = {
  enabled: 'boolean',
  labelPods: 'boolean',
  deletePods: 'boolean',
  repairPods: 'boolean',
  hub: 'string',
  tag: 'int-or-string',
  image: 'string',
  initContainerName: 'string',
  brokenPodLabelKey: 'string',
  brokenPodLabelValue: 'string',
  createEvents: 'string',
};

/** JSON type name of a value, as the apiserver names it in messages. */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fieldMatches(kind: FieldKind, value: unknown): boolean {
  if (kind === 'int-or-string') return typeof value === 'string' || Number.isInteger(value);
  return typeof value === kind;
}

/**
 * Problems with a values.cni.repair value, as apiserver-style messages under `path`; empty when it is absent, a
 * boolean, or an object whose known fields have the right types.
 */
export function checkCniRepair(value: unknown, path: string): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  if (!isRecord(value)) {
    const type = jsonTypeName(value);
    return [
      `${path}: Invalid value: "${type}": ${path} must be a boolean or an object with boolean fields ` +
        `enabled, labelPods, deletePods, repairPods: "${type}"`,
    ];
  }
  const errors: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const kind = (REPAIR_FIELDS as Readonly<Record<string, FieldKind>>)[key];
    if (kind === undefined) {
      errors.push(`unknown field "${path}.${key}"`);
    } else if (!fieldMatches(kind, field)) {
      const type = jsonTypeName(field);
      const want = kind === 'int-or-string' ? 'integer,string' : kind;
      errors.push(`${path}.${key}: Invalid value: "${type}": ${path}.${key} in body must be of type ${want}: "${type}"`);
    }
  }
  return errors;
}

/** values.cni.repair as an object: a boolean b becomes {enabled: b}; absent stays undefined. Assumes it is valid. */
export function normalizeCniRepair(value: unknown): CniRepairConfig | undefined {
  if (typeof value === 'boolean') return { enabled: value };
  if (isRecord(value)) return { ...value };
  return undefined;
}
