// Validation of mizzen's custom resources against the CRD schemas (operator/src/api/generated/schemas.ts), the
// way the apiserver does it, plus the semantic checks a structural schema cannot express. Pure: no I/O.
//
// ajv is taught the Kubernetes extensions: x-kubernetes-int-or-string accepts an integer or a string, the other
// x-kubernetes-* keywords are annotations. Like the apiserver with strict field validation (kubectl's default),
// fields a schema does not declare are errors unless the object preserves unknown fields. Messages name the
// field path and read like the apiserver's, for example
//   spec.profile: Unsupported value: "blue": supported values: "default", "demo", ...
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { checkCniRepair, jsonTypeName } from './cni-repair.js';
import { schemas, type CrdKey } from './generated/schemas.js';

export type ValidationResult = { valid: true } | { valid: false; errors: string[] };

type Schema = Record<string, unknown>;

const ANNOTATION_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-validations',
];

/** Keywords whose values are data, not schemas: copied as they are. */
const LITERAL_KEYWORDS = new Set(['enum', 'required', 'default', 'example', 'x-kubernetes-list-map-keys']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, logger: false });
  formats.default(ajv);
  for (const keyword of ANNOTATION_KEYWORDS) ajv.addKeyword({ keyword });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (enabled: boolean, data: unknown): boolean => !enabled || typeof data === 'string' || Number.isInteger(data),
    error: { message: 'must be of type integer,string' },
  });
  return ajv;
}

/**
 * The schema as ajv should see it: objects that declare properties and neither preserve unknown fields nor
 * allow additional properties get additionalProperties: false, so unknown fields are reported as the apiserver
 * reports them under strict field validation. metadata is validated by the apiserver itself and stays open.
 */
export function closeObjects(node: unknown, isRoot = true): unknown {
  if (Array.isArray(node)) return node.map((n) => closeObjects(n, false));
  if (!isRecord(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && isRecord(value)) {
      const props: Schema = {};
      for (const [name, prop] of Object.entries(value)) {
        props[name] = isRoot && name === 'metadata' ? prop : closeObjects(prop, false);
      }
      out[key] = props;
    } else if (LITERAL_KEYWORDS.has(key)) {
      out[key] = value;
    } else {
      out[key] = closeObjects(value, false);
    }
  }
  const open = node['x-kubernetes-preserve-unknown-fields'] === true || node.additionalProperties !== undefined;
  if (node.type === 'object' && isRecord(node.properties) && !open) out.additionalProperties = false;
  return out;
}

/**
 * Sub-schemas the CRD names with a title (in YAML, usually one anchor reused through aliases) are moved to $defs
 * and referenced, so ajv compiles each shape once instead of once per use.
 */
export function hoistTitled(root: Schema): Schema {
  const defs: Record<string, Schema> = {};
  const texts = new Map<string, string>();
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!isRecord(node)) return node;
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) out[key] = LITERAL_KEYWORDS.has(key) ? value : visit(value);
    const title = node.title;
    if (node === root || typeof title !== 'string' || !/^[A-Za-z][\w]*$/.test(title)) return out;
    const text = JSON.stringify(out);
    const known = texts.get(title);
    if (known !== undefined && known !== text) return out;
    texts.set(title, text);
    defs[title] = out;
    return { $ref: `#/$defs/${title}` };
  };
  const hoisted = visit(root) as Schema;
  return Object.keys(defs).length === 0 ? hoisted : { ...hoisted, $defs: defs };
}

let ajvInstance: Ajv | undefined;
const validators = new Map<CrdKey, ValidateFunction>();

/** The compiled validator of one CRD version; each is compiled once, on first use. */
function validatorFor(key: CrdKey): ValidateFunction {
  let fn = validators.get(key);
  if (fn === undefined) {
    ajvInstance ??= newAjv();
    fn = ajvInstance.compile(hoistTitled(closeObjects(schemas[key]) as Schema));
    validators.set(key, fn);
  }
  return fn;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * A JSON pointer into `data` as the apiserver's field path: keys joined with dots (map keys too, as in
 * spec.k8s.nodeSelector.kubernetes.io/os), array indices in brackets (spec.ports[0].port).
 */
export function fieldPath(pointer: string, data: unknown): string {
  let out = '';
  let cursor: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = unescapePointer(raw);
    if (Array.isArray(cursor)) out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
    cursor = isRecord(cursor) || Array.isArray(cursor) ? (cursor as Record<string, unknown>)[segment] : undefined;
  }
  return out;
}

function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
}

/** What a message is built from: the field path, the offending value and ajv's params. */
interface Offence {
  path: string;
  value: unknown;
  p: Record<string, unknown>;
}

function typeMessage({ path, value }: Offence, want: string): string {
  const got = jsonTypeName(value);
  return `${path}: Invalid value: "${got}": ${path} in body must be of type ${want}: "${got}"`;
}

/** Messages per ajv keyword, worded as the apiserver words them. */
const MESSAGES: Readonly<Record<string, (o: Offence) => string>> = {
  required: ({ path, p }) => `${join(path, String(p.missingProperty))}: Required value`,
  additionalProperties: ({ path, p }) => `unknown field "${join(path, String(p.additionalProperty))}"`,
  type: (o) => typeMessage(o, String(o.p.type)),
  'x-kubernetes-int-or-string': (o) => typeMessage(o, 'integer,string'),
  enum: ({ path, value, p }) => {
    const allowed = Array.isArray(p.allowedValues) ? p.allowedValues.map(quote).join(', ') : '';
    return `${path}: Unsupported value: ${quote(value)}: supported values: ${allowed}`;
  },
  pattern: ({ path, value, p }) => `${path}: Invalid value: ${quote(value)}: ${path} in body should match '${String(p.pattern)}'`,
  maxLength: ({ path, p }) => `${path}: Too long: may not be more than ${String(p.limit)} bytes`,
  minLength: ({ path, value, p }) =>
    `${path}: Invalid value: ${quote(value)}: ${path} in body should be at least ${String(p.limit)} chars long`,
  maxItems: ({ path, value, p }) =>
    `${path}: Too many: ${Array.isArray(value) ? value.length : '?'}: must have at most ${String(p.limit)} items`,
  minimum: ({ path, value, p }) =>
    `${path}: Invalid value: ${quote(value)}: ${path} in body should be greater than or equal to ${String(p.limit)}`,
  format: ({ path, value, p }) =>
    `${path}: Invalid value: ${quote(value)}: ${path} in body must be of type ${String(p.format)}: ${quote(value)}`,
};

/** One ajv error as the apiserver would word it. */
function describe(err: ErrorObject, data: unknown): string {
  const offence: Offence = { path: fieldPath(err.instancePath, data), value: err.data, p: err.params as Record<string, unknown> };
  const message = MESSAGES[err.keyword];
  if (message !== undefined) return message(offence);
  return `${offence.path}: Invalid value: ${quote(offence.value)}: ${err.message ?? err.keyword}`;
}

type SemanticCheck = (obj: Record<string, unknown>) => string[];

function at(obj: unknown, ...keys: string[]): unknown {
  let cursor = obj;
  for (const key of keys) cursor = isRecord(cursor) ? cursor[key] : undefined;
  return cursor;
}

/** Checks a structural schema cannot express, per kind, in order. */
const semanticChecks: Partial<Record<CrdKey, readonly SemanticCheck[]>> = {
  'install.istio.io/v1alpha1/IstioOperator': [
    (obj) => checkCniRepair(at(obj, 'spec', 'values', 'cni', 'repair'), 'spec.values.cni.repair'),
  ],
};

function keyOf(obj: Record<string, unknown>): string | undefined {
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || apiVersion === '' || kind === '') return undefined;
  return `${apiVersion}/${kind}`;
}

function isCrdKey(key: string): key is CrdKey {
  return Object.hasOwn(schemas, key);
}

/**
 * Validates a custom resource of one of mizzen's CRDs, chosen by its apiVersion and kind, against that version's
 * schema and semantic checks. Errors are apiserver-style messages naming the field path.
 */
export function validate(obj: unknown): ValidationResult {
  if (!isRecord(obj)) return { valid: false, errors: [`Invalid value: ${quote(jsonTypeName(obj))}: must be an object`] };
  const key = keyOf(obj);
  if (key === undefined) return { valid: false, errors: ['apiVersion, kind: Required value: both must be set'] };
  if (!isCrdKey(key)) {
    const known = Object.keys(schemas).join(', ');
    return { valid: false, errors: [`apiVersion, kind: Unsupported value: "${key}": supported values: ${known}`] };
  }
  const validator = validatorFor(key);
  const errors = validator(obj) ? [] : (validator.errors ?? []).map((e) => describe(e, obj));
  for (const check of semanticChecks[key] ?? []) errors.push(...check(obj));
  const unique = [...new Set(errors)];
  return unique.length === 0 ? { valid: true } : { valid: false, errors: unique };
}
