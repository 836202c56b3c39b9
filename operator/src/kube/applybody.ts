import { InvalidInputError } from './errors.js';

/**
 * The body of a server-side apply. The API server reads it as YAML (`application/apply-patch+yaml`), and JSON is
 * YAML except for characters YAML does not allow raw or reads as line breaks: DEL and the C1 controls, U+0085,
 * U+2028, U+2029, U+FEFF and the non-characters U+FFFE/U+FFFF. JSON.stringify leaves those raw, and the API server
 * then answers "error decoding YAML" without naming a field, so they are written as \u escapes, which YAML's
 * double-quoted strings read back to the same characters. What cannot be sent at all is refused here, naming the
 * field: a string with a lone surrogate (it is not UTF-8), and a key longer than YAML allows an implicit key
 * (1,024 characters; the API server answers "did not find expected ',' or '}'").
 */
export function applyBody(obj: unknown): string {
  const bad = unsendable(obj, '');
  if (bad) throw new InvalidInputError(`${bad.path || 'the object'}: ${bad.problem}`, bad.path || undefined);
  return JSON.stringify(obj).replace(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Below YAML's 1,024-character limit on implicit keys, counted on the encoded key (quotes and escapes included). */
const MAX_KEY_BYTES = 1000;
const SURROGATE = 'contains a lone UTF-16 surrogate, which is not valid UTF-8';

/** The first key or string that cannot be applied, with its path (`spec.values.x`, `spec.list[1]`). */
function unsendable(v: unknown, at: string): { path: string; problem: string } | undefined {
  if (typeof v === 'string') return LONE_SURROGATE.test(v) ? { path: at, problem: SURROGATE } : undefined;
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const bad = unsendable(x, `${at}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  for (const [k, x] of Object.entries(v)) {
    const here = at ? `${at}.${k}` : k;
    if (LONE_SURROGATE.test(k)) return { path: here, problem: SURROGATE };
    if (Buffer.byteLength(JSON.stringify(k)) > MAX_KEY_BYTES) {
      return { path: `${at ? `${at}.` : ''}${k.slice(0, 40)}…`, problem: `a key of ${k.length} characters; server-side apply takes keys of at most ${MAX_KEY_BYTES} bytes` };
    }
    const bad = unsendable(x, here);
    if (bad) return bad;
  }
  return undefined;
}

/** A request body as text: an apply's through applyBody, anything else as JSON. */
export function encodeBody(body: unknown, contentType: string | undefined): string {
  return contentType === 'application/apply-patch+yaml' ? applyBody(body) : JSON.stringify(body);
}
