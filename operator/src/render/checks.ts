// Field checks shared by the resolver: each throws InvalidSpecError naming the field, or returns the value with
// its type narrowed. Formats follow Kubernetes' validation (DNS-1123/1035 labels) and Istio's expectations.
import { InvalidSpecError } from './errors.js';
import { isRecord } from './json.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035_LABEL.test(s);
}

export function isHostname(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s) && s.split('.').every((part) => part.length <= 63);
}

export function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

export function isIPv6(s: string): boolean {
  if (!s.includes(':') || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    return new URL(`http://[${s}]/`).hostname !== '';
  } catch {
    return false;
  }
}

export function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE.test(s);
}

export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InvalidSpecError(field, `must be a string, not ${JSON.stringify(value)}`);
  return value;
}

export function stringOr(value: unknown, field: string, fallback: string): string {
  return optionalString(value, field) ?? fallback;
}

export function booleanOr(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new InvalidSpecError(field, `must be true or false, not ${JSON.stringify(value)}`);
  return value;
}

/** A tag may be a number in YAML (tag: 1.11); Istio accepts it. */
export function optionalTag(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') throw new InvalidSpecError(field, `must be a string, not ${JSON.stringify(value)}`);
  return value;
}

export function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InvalidSpecError(field, `must be a list of strings, not ${JSON.stringify(value)}`);
  }
  return value as string[];
}

export function record(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new InvalidSpecError(field, `must be an object, not ${JSON.stringify(value)}`);
  return value;
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  const out = record(value, field);
  for (const [key, v] of Object.entries(out)) {
    if (typeof v !== 'string') throw new InvalidSpecError(`${field}.${key}`, `must be a string, not ${JSON.stringify(v)}`);
  }
  return out as Record<string, string>;
}

export function namespaceName(value: string, field: string): string {
  if (!isDns1123Label(value)) {
    throw new InvalidSpecError(field, `${JSON.stringify(value)} is not a valid namespace name (a DNS-1123 label: lower case letters, digits and '-', at most 63 characters)`);
  }
  return value;
}

/** An absolute host path without '..' segments, as hostPath volumes need. */
export function absolutePath(value: string, field: string): string {
  if (!value.startsWith('/') || value.split('/').includes('..') || /[\0\n\r]/.test(value)) {
    throw new InvalidSpecError(field, `${JSON.stringify(value)} is not an absolute path (it must start with '/' and contain no '..')`);
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

/** An https URL with a host, as a webhook clientConfig.url must be. */
export function httpsUrl(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidSpecError(field, `${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.hostname === '') throw new InvalidSpecError(field, `${JSON.stringify(value)} must be an https:// URL with a host`);
  if (url.username || url.password || url.hash || url.search) {
    throw new InvalidSpecError(field, `${JSON.stringify(value)} must not contain user info, a query or a fragment (webhook URLs cannot)`);
  }
  return value;
}

/** A scalar (string, number or boolean) as text, e.g. for env values; absent or "" gives the fallback. */
export function scalarText(value: unknown, field: string, fallback: string): string {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InvalidSpecError(field, `must be a string, number or boolean, not ${JSON.stringify(value)}`);
}
