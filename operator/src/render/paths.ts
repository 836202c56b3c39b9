// Istio's path syntax for overlays and --set: dot-separated keys, list indices and list selectors, e.g.
//   spec.template.spec.containers.[name:discovery].args[0]
//   components.ingressGateways[0].enabled
//   metadata.annotations.service\.beta\.kubernetes\.io/aws-load-balancer-type
// A segment is a key (dots inside escaped with a backslash), optionally followed by brackets, or brackets
// alone: [N] is an index (-1: append, when setting), [key:value] selects the list entry whose key equals value,
// [:value] selects the scalar entry equal to value. Dots inside brackets belong to the selector.

export type PathElement =
  | { readonly type: 'key'; readonly key: string }
  | { readonly type: 'index'; readonly index: number }
  | { readonly type: 'select'; readonly key: string; readonly value: string };

/** A path that cannot be parsed or followed; the caller names the field. */
export class PathError extends Error {
  override readonly name = 'PathError';
}

/** Splits at unescaped dots outside brackets. */
function splitSegments(path: string): string[] {
  const out: string[] = [];
  let current = '';
  let depth = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charAt(i);
    if (c === '\\' && depth === 0 && i + 1 < path.length) {
      current += c + path.charAt(++i);
    } else if (c === '.' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      if (c === '[') depth++;
      if (c === ']') depth--;
      if (depth < 0 || depth > 1) throw new PathError(`unbalanced brackets in path ${JSON.stringify(path)}`);
      current += c;
    }
  }
  if (depth !== 0) throw new PathError(`unbalanced brackets in path ${JSON.stringify(path)}`);
  out.push(current);
  return out;
}

function parseBracket(inner: string, path: string): PathElement {
  if (/^-?\d+$/.test(inner)) {
    const index = Number(inner);
    if (index < -1) throw new PathError(`index [${inner}] in path ${JSON.stringify(path)} is negative`);
    return { type: 'index', index };
  }
  const colon = inner.indexOf(':');
  if (colon < 0) throw new PathError(`[${inner}] in path ${JSON.stringify(path)} is neither an index nor a [key:value] selector`);
  return { type: 'select', key: inner.slice(0, colon), value: inner.slice(colon + 1) };
}

function parseSegment(segment: string, path: string): PathElement[] {
  const bracket = segment.search(/(?<!\\)\[/);
  const keyPart = bracket < 0 ? segment : segment.slice(0, bracket);
  const out: PathElement[] = [];
  if (keyPart !== '') {
    if (/[\]]/.test(keyPart)) throw new PathError(`unbalanced brackets in path ${JSON.stringify(path)}`);
    out.push({ type: 'key', key: keyPart.replace(/\\(.)/g, '$1') });
  }
  let rest = bracket < 0 ? '' : segment.slice(bracket);
  while (rest !== '') {
    const m = /^\[([^\]]*)\]/.exec(rest);
    if (!m) throw new PathError(`unexpected ${JSON.stringify(rest)} in path ${JSON.stringify(path)}`);
    out.push(parseBracket(m[1] ?? '', path));
    rest = rest.slice(m[0].length);
  }
  if (out.length === 0) throw new PathError(`empty element in path ${JSON.stringify(path)}`);
  return out;
}

/**
 * Keys that would reach an object's prototype instead of a field: `__proto__` anywhere, `prototype` under
 * `constructor`. Refused as malformed, so no patch or --set can touch a prototype.
 */
function checkPrototypeKeys(elements: readonly PathElement[], path: string): void {
  elements.forEach((e, i) => {
    if (e.type !== 'key') return;
    const prev = elements[i - 1];
    if (e.key === '__proto__' || (e.key === 'prototype' && prev?.type === 'key' && prev.key === 'constructor')) {
      throw new PathError(`path ${JSON.stringify(path)} names ${JSON.stringify(e.key)}, which is not a field`);
    }
  });
}

/** Parses an Istio-style path; throws PathError when it is malformed. */
export function parsePath(path: string): PathElement[] {
  if (path.trim() === '') throw new PathError('path is empty');
  const elements = splitSegments(path).flatMap((segment) => parseSegment(segment, path));
  checkPrototypeKeys(elements, path);
  return elements;
}

/** The path back in Istio syntax, for messages. */
export function formatPath(elements: readonly PathElement[]): string {
  let out = '';
  for (const e of elements) {
    if (e.type === 'key') out += (out === '' ? '' : '.') + e.key.replace(/\./g, '\\.');
    else if (e.type === 'index') out += `[${e.index}]`;
    else out += `${out === '' ? '' : '.'}[${e.key}:${e.value}]`;
  }
  return out;
}
