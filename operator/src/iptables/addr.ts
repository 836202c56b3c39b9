// IP addresses and CIDRs, parsed strictly and printed the way iptables-save prints them (masked network address,
// IPv6 in glibc inet_ntop form), so that what we write is byte-for-byte what we read back. Pure.

export type Family = 'v4' | 'v6';

export interface IpAddress {
  readonly family: Family;
  /** 4 bytes for v4, 16 for v6. */
  readonly bytes: readonly number[];
}

export interface Cidr {
  readonly family: Family;
  /** Network address (host bits cleared), canonical text. */
  readonly network: string;
  readonly prefix: number;
  /** `network/prefix`, exactly as iptables-save prints it. */
  readonly text: string;
  /** True when the address as written (before masking) is a loopback address, like Go's net.IP.IsLoopback. */
  readonly loopback: boolean;
}

const V4_PART = /^(0|[1-9]\d{0,2})$/;

function parseV4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!V4_PART.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseHexGroups(text: string): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  for (const g of text.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(parseInt(g, 16));
  }
  return out;
}

/** Splits a trailing dotted IPv4 part off an IPv6 text into two 16-bit groups. */
function splitEmbeddedV4(text: string): { head: string; tail: number[] } | undefined {
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (!last.includes('.')) return { head: text, tail: [] };
  const v4 = parseV4(last);
  if (v4 === undefined || lastColon < 0) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = v4;
  const head = text.slice(0, lastColon);
  // "::1.2.3.4" and "1::1.2.3.4": the "::" sits right before the IPv4 part, keep it whole.
  return { head: head.endsWith(':') ? `${head}:` : head, tail: [(a << 8) | b, (c << 8) | d] };
}

function parseV6(text: string): number[] | undefined {
  const split = splitEmbeddedV4(text);
  if (split === undefined) return undefined;
  const { head, tail } = split;
  const want = 8 - tail.length;
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const left = parseHexGroups(halves[0] ?? '');
    const right = parseHexGroups(halves[1] ?? '');
    if (left === undefined || right === undefined || left.length + right.length >= want) return undefined;
    groups = [...left, ...new Array<number>(want - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseHexGroups(head);
    if (all === undefined || all.length !== want) return undefined;
    groups = all;
  }
  const bytes: number[] = [];
  for (const g of [...groups, ...tail]) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

/** Parses a bare IPv4 or IPv6 address (no zone, no brackets). */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const bytes = parseV6(text);
    return bytes === undefined ? undefined : { family: 'v6', bytes };
  }
  const bytes = parseV4(text);
  return bytes === undefined ? undefined : { family: 'v4', bytes };
}

/** The longest run of zero words (the first wins a tie), if at least two long: what glibc's inet_ntop compresses. */
function zeroRun(words: readonly number[]): { base: number; len: number } {
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  words.forEach((w, i) => {
    cur = w !== 0 ? { base: -1, len: 0 } : cur.base === -1 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
    if (cur.len > best.len) best = cur;
  });
  return best.len < 2 ? { base: -1, len: 0 } : best;
}

function formatV6(bytes: readonly number[]): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  const best = zeroRun(words);
  const hex = words.map((w) => w.toString(16));
  // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses keep the dotted tail.
  const embeddedV4 = best.base === 0 && (best.len === 6 || (best.len === 5 && words[5] === 0xffff));
  const groups = embeddedV4 ? [...hex.slice(0, 6), bytes.slice(12).join('.')] : hex;
  if (best.base === -1) return groups.join(':');
  return `${groups.slice(0, best.base).join(':')}::${groups.slice(best.base + best.len).join(':')}`;
}

export function formatIp(ip: IpAddress): string {
  return ip.family === 'v4' ? ip.bytes.join('.') : formatV6(ip.bytes);
}

export function hostPrefix(family: Family): number {
  return family === 'v4' ? 32 : 128;
}

function isLoopbackAddress(ip: IpAddress): boolean {
  if (ip.family === 'v4') return ip.bytes[0] === 127;
  return ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1;
}

function mask(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return bits === 8 ? b : b & ((0xff << (8 - bits)) & 0xff);
  });
}

/** Parses `address/prefix` (the prefix is required, as with Go's net.ParseCIDR). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === undefined || !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > hostPrefix(ip.family)) return undefined;
  const network = formatIp({ family: ip.family, bytes: mask(ip.bytes, prefix) });
  return { family: ip.family, network, prefix, text: `${network}/${prefix}`, loopback: isLoopbackAddress(ip) };
}

/** A single address as a host CIDR (`/32` or `/128`). */
export function hostCidr(ip: IpAddress): string {
  return `${formatIp(ip)}/${hostPrefix(ip.family)}`;
}
