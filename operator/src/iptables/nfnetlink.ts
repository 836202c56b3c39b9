// The restore input of a fresh netns, encoded as the nf_tables netlink batch iptables-nft-restore --noflush sends
// for it, so that the plugin can apply it in the pod's netns without starting iptables-restore (issue 15, ADR 0005
// "The ADD without iptables-restore"). Pure: text in, bytes out; the plugin only sends the bytes and reports the
// kernel's answers. The agent stays the only place that decides what the rules are and how they are encoded.
//
// What is encoded is exactly what iptables-nft writes for the same input, expression by expression: with port
// matches as the xt tcp/udp match (`compat`, the default), what 1.8.7 writes, which both 1.8.7 and 1.8.9 print
// back as written; with `native` port comparisons, what 1.8.9 writes (1.8.7's iptables-save drops those ports).
// Checked on a real kernel against iptables-nft-restore itself (operator/test/iptables/netlinkkernel.test.ts:
// `nft --debug=netlink list ruleset` and iptables-save), so iptables-save, which CHECK, repair and drift read,
// prints the rules the agent compares with. Only the forms the agent's rule sets use in the nat
// and raw tables are encoded (REDIRECT mode, with or without DNS capture); for anything else (the mangle table of
// TPROXY and drop-invalid, a match or target not below, a port range, a named owner) encodeRestore answers
// undefined and the agent has the plugin run iptables-restore as before.
//
// Supported, in iptables-save's canonical order: [!] -s CIDR, [!] -d CIDR, [!] -i IF, [!] -o IF, [!] -p tcp|udp,
// -m tcp|udp [!] --sport N [!] --dport N, -m multiport [!] --dports|--sports N,N,..., -m owner [!] --uid-owner N |
// [!] --gid-owner N (numeric), and -j RETURN, ACCEPT, a chain, REDIRECT --to-ports N (nat) or CT --zone N (raw).
import os from 'node:os';
import { type Family, parseCidr, parseIp } from './addr.js';

// netlink / nfnetlink / nf_tables constants (linux/netlink.h, linux/netfilter/nfnetlink.h, nf_tables.h).
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLM_F_APPEND = 0x800;
const NLA_F_NESTED = 0x8000;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_DELRULE = 8;
const NFPROTO: Record<Family, number> = { v4: 2, v6: 10 };
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const NFT_CMP_EQ = 0;
const NFT_CMP_NEQ = 1;
const NFT_META_IIFNAME = 6;
const NFT_META_OIFNAME = 7;
const NFT_META_L4PROTO = 16;
const NFT_PAYLOAD_NETWORK_HEADER = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
const NF_ACCEPT = 1;
const NFT_JUMP = -3;
const NFT_RETURN = -5;
const NFT_RULE_COMPAT_F_INV = 1 << 1;
const XT_OWNER_UID = 1;
const XT_OWNER_GID = 2;
const NF_NAT_RANGE_PROTO_SPECIFIED = 1 << 1;
const IPPROTO: Readonly<Record<string, number>> = { tcp: 6, udp: 17 };

/** The tables encoded, with their built-in chains as iptables-nft creates them: chain type, hook, priority. */
const TABLES: Readonly<Record<string, { readonly type: string; readonly hooks: Readonly<Record<string, { hook: number; priority: number }>> }>> = {
  nat: {
    type: 'nat',
    hooks: { PREROUTING: { hook: 0, priority: -100 }, INPUT: { hook: 1, priority: 100 }, OUTPUT: { hook: 3, priority: -100 }, POSTROUTING: { hook: 4, priority: 100 } },
  },
  raw: { type: 'filter', hooks: { PREROUTING: { hook: 0, priority: -300 }, OUTPUT: { hook: 3, priority: -300 } } },
};
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * How `-m tcp/udp` ports are written: `compat` (the default: the xt match, as iptables-nft 1.8.7 writes it, printed
 * the same by 1.8.7 and 1.8.9) or `native` (payload comparisons, as 1.8.8+ writes it; 1.8.7's iptables-save
 * prints such a rule without its ports).
 */
export type PortEncoding = 'compat' | 'native';

export interface NetlinkBatch {
  /** The whole batch (begin, messages, end), as one sendmsg. */
  readonly bytes: Buffer;
  /** Sequence number → what the message does, for error messages (the restore line it came from). */
  readonly what: ReadonlyMap<number, string>;
  /** Messages that ask for an acknowledgement (every one between begin and end). */
  readonly acks: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Attribute encoding

type Attr = Buffer;

const align4 = (n: number): number => (n + 3) & ~3;

// Netlink headers and xtables structs are in the host's byte order; nf_tables attribute values in network order.
const little = os.endianness() === 'LE';
function u32h(b: Buffer, off: number, v: number): void {
  if (little) b.writeUInt32LE(v, off);
  else b.writeUInt32BE(v, off);
}
function u16h(b: Buffer, off: number, v: number): void {
  if (little) b.writeUInt16LE(v, off);
  else b.writeUInt16BE(v, off);
}

function attr(type: number, payload: Buffer): Attr {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  u16h(out, 0, len);
  u16h(out, 2, type);
  payload.copy(out, 4);
  return out;
}

const nested = (type: number, ...children: Attr[]): Attr => attr(type | NLA_F_NESTED, Buffer.concat(children));
const str = (type: number, s: string): Attr => attr(type, Buffer.from(`${s}\0`, 'latin1'));
function be32(type: number, v: number): Attr {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0, 0);
  return attr(type, b);
}
function be64(type: number, v: bigint): Attr {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v, 0);
  return attr(type, b);
}

/** One expression: NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA { ... } }. */
const expr = (name: string, ...data: Attr[]): Attr => nested(1, str(1, name), nested(2, ...data));
/** NFTA_DATA_VALUE inside the given attribute. */
const dataValue = (type: number, value: Buffer): Attr => nested(type, attr(1, value));

const meta = (key: number): Attr => expr('meta', be32(2, key), be32(1, NFT_REG_1));
const payload = (base: number, offset: number, len: number): Attr => expr('payload', be32(1, NFT_REG_1), be32(2, base), be32(3, offset), be32(4, len));
const cmp = (op: number, value: Buffer): Attr => expr('cmp', be32(1, NFT_REG_1), be32(2, op), dataValue(3, value));
const bitwise = (mask: Buffer): Attr => expr('bitwise', be32(1, NFT_REG_1), be32(2, NFT_REG_1), be32(3, mask.length), dataValue(4, mask), dataValue(5, Buffer.alloc(mask.length)));
const counter = (): Attr => expr('counter', be64(1, 0n), be64(2, 0n));
const verdict = (code: number, chain?: string): Attr =>
  expr('immediate', be32(1, NFT_REG_VERDICT), nested(2, nested(2, be32(1, code), ...(chain === undefined ? [] : [str(2, chain)]))));
/** An xtables match or target through nft_compat: name, revision and the extension's own struct (host order). */
const xt = (kind: 'match' | 'target', name: string, rev: number, info: Buffer): Attr => expr(kind, str(1, name), be32(2, rev), attr(3, info));

/** XT_ALIGN: xtables structs are padded to 8 bytes. */
const xtAlign = (n: number): number => (n + 7) & ~7;

/** struct xt_owner_match_info { u32 uid_min, uid_max, gid_min, gid_max; u8 match, invert; }, padded. */
function ownerInfo(kind: 'uid' | 'gid', id: number, invert: boolean): Buffer {
  const b = Buffer.alloc(xtAlign(18));
  const bit = kind === 'uid' ? XT_OWNER_UID : XT_OWNER_GID;
  u32h(b, kind === 'uid' ? 0 : 8, id);
  u32h(b, kind === 'uid' ? 4 : 12, id);
  b[16] = bit;
  b[17] = invert ? bit : 0;
  return b;
}

/**
 * REDIRECT --to-ports N, revision 0: IPv4's struct nf_nat_ipv4_multi_range_compat (rangesize, then one range:
 * flags, min_ip, max_ip, min and max port), IPv6's struct nf_nat_range (flags, min_addr, max_addr, min and max
 * proto); ports in network order, the rest in host order.
 */
function redirectInfo(family: Family, port: number): Buffer {
  if (family === 'v4') {
    const b = Buffer.alloc(xtAlign(20));
    u32h(b, 0, 1);
    u32h(b, 4, NF_NAT_RANGE_PROTO_SPECIFIED);
    b.writeUInt16BE(port, 16);
    b.writeUInt16BE(port, 18);
    return b;
  }
  const b = Buffer.alloc(xtAlign(40));
  u32h(b, 0, NF_NAT_RANGE_PROTO_SPECIFIED);
  b.writeUInt16BE(port, 36);
  b.writeUInt16BE(port, 38);
  return b;
}

/** CT --zone N, revision 2: struct xt_ct_target_info_v1 (flags, zone, events, helper, timeout, the kernel's pointer). */
function ctInfo(zone: number): Buffer {
  const b = Buffer.alloc(72);
  u16h(b, 2, zone);
  return b;
}

/** multiport revision 1: struct xt_multiport_v1 (flags, count, ports[15] in host order, pflags[15], invert). */
function multiportInfo(destination: boolean, ports: readonly number[], invert: boolean): Buffer {
  const b = Buffer.alloc(48);
  b[0] = destination ? 1 : 0; // XT_MULTIPORT_DESTINATION / XT_MULTIPORT_SOURCE
  b[1] = ports.length;
  ports.forEach((p, i) => u16h(b, 2 + 2 * i, p));
  b[47] = invert ? 1 : 0;
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Rule parsing: a rule in iptables-save's canonical form → expressions, or undefined when not supported.

interface Encoded {
  readonly exprs: Attr[];
  readonly proto: number;
  readonly protoInv: boolean;
}

function portOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function idOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9]\d{0,9})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

function ifaceExprs(key: number, name: string, inv: boolean): Attr[] | undefined {
  if (name === '' || name.length > 15 || /[\s\0]/.test(name)) return undefined;
  const op = inv ? NFT_CMP_NEQ : NFT_CMP_EQ;
  // iptables-nft: "eth+" compares the prefix without the '+'. A lone "+" (any interface) is left to iptables-restore.
  if (name.endsWith('+')) return name.length === 1 ? undefined : [meta(key), cmp(op, Buffer.from(name.slice(0, -1), 'latin1'))];
  return [meta(key), cmp(op, Buffer.from(`${name}\0`, 'latin1'))];
}

/** -s/-d as iptables-nft writes them: a payload of the whole mask's bytes, a bitwise only for a ragged mask. */
function addrExprs(family: Family, which: 's' | 'd', text: string, inv: boolean): Attr[] | undefined {
  const c = parseCidr(text);
  const ip = c && parseIp(c.network);
  if (c === undefined || ip === undefined || c.family !== family || c.text !== text) return undefined;
  const size = family === 'v4' ? 4 : 16;
  const offset = family === 'v4' ? (which === 's' ? 12 : 16) : which === 's' ? 8 : 24;
  const mask = Buffer.alloc(size);
  for (let i = 0; i < size; i++) mask[i] = 0xff & ~(0xff >> Math.max(0, Math.min(8, c.prefix - 8 * i)));
  const full = Math.floor(c.prefix / 8);
  const ragged = c.prefix % 8 !== 0;
  // iptables-save never prints a /0 (it is no match at all); left to iptables-restore.
  if (c.prefix === 0) return undefined;
  const len = ragged ? size : full;
  const net = Buffer.from(ip.bytes).subarray(0, len);
  const op = inv ? NFT_CMP_NEQ : NFT_CMP_EQ;
  return [payload(NFT_PAYLOAD_NETWORK_HEADER, offset, len), ...(ragged ? [bitwise(mask.subarray(0, len))] : []), cmp(op, net)];
}

const u16be = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
};

interface Opt {
  readonly inv: boolean;
  readonly opt: string;
  readonly val: string;
}

interface ParsedRule {
  /** -s, -d, -i, -o, -p: each at most once. */
  readonly head: ReadonlyMap<string, { readonly inv: boolean; readonly val: string }>;
  readonly matches: readonly { readonly name: string; readonly opts: readonly Opt[] }[];
  readonly target?: { readonly name: string; readonly opts: readonly Opt[] };
}

const HEAD_FLAGS = new Set(['-s', '-d', '-i', '-o', '-p']);

/** `[!] --option value` pairs from tokens[i] on, up to the next `-x` flag. */
function takeOpts(tokens: readonly string[], start: number): { opts: Opt[]; next: number } | undefined {
  const opts: Opt[] = [];
  let i = start;
  for (;;) {
    const inv = tokens[i] === '!';
    const opt = tokens[inv ? i + 1 : i];
    if (opt === undefined || !opt.startsWith('--')) return { opts, next: i };
    const val = tokens[inv ? i + 2 : i + 1];
    if (val === undefined) return undefined;
    opts.push({ inv, opt, val });
    i += inv ? 3 : 2;
  }
}

/** `[!] FLAG VALUE` at tokens[i]. */
function takeFlag(tokens: readonly string[], i: number): { inv: boolean; flag: string; val: string; next: number } | undefined {
  const inv = tokens[i] === '!';
  const flag = tokens[inv ? i + 1 : i];
  const val = tokens[inv ? i + 2 : i + 1];
  return flag === undefined || val === undefined ? undefined : { inv, flag, val, next: i + (inv ? 3 : 2) };
}

/** A rule's tokens as iptables-save prints them, split into its parts; undefined when malformed. */
function parseRule(tokens: readonly string[]): ParsedRule | undefined {
  const head = new Map<string, { inv: boolean; val: string }>();
  const matches: { name: string; opts: Opt[] }[] = [];
  let target: { name: string; opts: Opt[] } | undefined;
  for (let i = 0; i < tokens.length; ) {
    const f = takeFlag(tokens, i);
    if (f === undefined) return undefined;
    i = f.next;
    if (HEAD_FLAGS.has(f.flag) && !head.has(f.flag)) {
      head.set(f.flag, { inv: f.inv, val: f.val });
      continue;
    }
    const taken = takeOpts(tokens, i);
    if (f.inv || taken === undefined || target !== undefined) return undefined;
    i = taken.next;
    if (f.flag === '-m') matches.push({ name: f.val, opts: taken.opts });
    else if (f.flag === '-j') target = { name: f.val, opts: taken.opts };
    else return undefined;
  }
  return { head, matches, ...(target ? { target } : {}) };
}

/** -i, -o, -p, -s, -d in iptables-nft's order (in-interface, out-interface, protocol, source, destination). */
function headExprs(family: Family, head: ParsedRule['head'], proto: number): Attr[] | undefined {
  const out: Attr[] = [];
  for (const flag of ['-i', '-o', '-p', '-s', '-d']) {
    const h = head.get(flag);
    if (h === undefined) continue;
    let e: Attr[] | undefined;
    if (flag === '-i' || flag === '-o') e = ifaceExprs(flag === '-i' ? NFT_META_IIFNAME : NFT_META_OIFNAME, h.val, h.inv);
    else if (flag === '-p') e = [meta(NFT_META_L4PROTO), cmp(h.inv ? NFT_CMP_NEQ : NFT_CMP_EQ, Buffer.from([proto]))];
    else e = addrExprs(family, flag === '-s' ? 's' : 'd', h.val, h.inv);
    if (e === undefined) return undefined;
    out.push(...e);
  }
  return out;
}

/**
 * Parses one rule (the tokens after `-A CHAIN`); undefined when it has anything encodeRestore does not cover. A
 * `-j NAME` that is not RETURN, ACCEPT or REDIRECT is a jump, encoded only when isChain(NAME) (in a restore: a
 * chain it declares); any other name is an extension target.
 */
export function encodeRule(
  family: Family,
  tokens: readonly string[],
  isChain: (name: string) => boolean = (n) => n.startsWith('ISTIO_'),
  table = 'nat',
  ports: PortEncoding = 'compat',
): Encoded | undefined {
  const rule = parseRule(tokens);
  if (rule?.target === undefined) return undefined;
  const p = rule.head.get('-p');
  const proto = p === undefined ? 0 : IPPROTO[p.val];
  if (proto === undefined) return undefined;
  const protoInv = p?.inv ?? false;
  const head = headExprs(family, rule.head, proto);
  const matches = rule.matches.map((m) => matchExprs(m.name, m.opts, proto, protoInv, ports));
  const target = targetExprs(family, table, rule.target, proto, protoInv, isChain);
  if (head === undefined || target === undefined || matches.some((m) => m === undefined)) return undefined;
  // iptables-nft's order: the head, the matches, a counter, the target.
  return { exprs: [...head, ...matches.flatMap((m) => m ?? []), counter(), ...target], proto, protoInv };
}

/**
 * struct xt_tcp / xt_udp (revision 0): source and destination port ranges (host order), then for tcp option,
 * flag mask and flags (unused here) and the inversion flags (XT_TCP_INV_SRCPT 1, XT_TCP_INV_DSTPT 2; udp's are
 * the same bits), padded to 16 bytes.
 */
function portMatchInfo(name: string, sport: PortOpt | undefined, dport: PortOpt | undefined): Buffer {
  const b = Buffer.alloc(16);
  u16h(b, 0, sport?.port ?? 0);
  u16h(b, 2, sport?.port ?? 0xffff);
  u16h(b, 4, dport?.port ?? 0);
  u16h(b, 6, dport?.port ?? 0xffff);
  b[name === 'tcp' ? 11 : 8] = (sport?.inv ? 1 : 0) | (dport?.inv ? 2 : 0);
  return b;
}

interface PortOpt {
  readonly inv: boolean;
  readonly port: number;
}

/** The one --sport or --dport among opts: undefined when absent, null when repeated or not a port. */
function portOpt(opts: readonly Opt[], name: string): PortOpt | undefined | null {
  const found = opts.filter((o) => o.opt === name);
  const [o] = found;
  if (o === undefined) return undefined;
  const port = portOf(o.val);
  return found.length > 1 || port === undefined ? null : { inv: o.inv, port };
}

/**
 * -m tcp|udp [!] --sport N [!] --dport N. `native`: as iptables-nft 1.8.8 and later write it, transport-header
 * payload comparisons (source port first); `compat`: as 1.8.7 and earlier write it, the xt tcp/udp match
 * (revision 0), which every iptables-nft prints back the same (ADR 0005: 1.8.7 drops native port matches).
 */
function portExprs(name: string, opts: readonly Opt[], proto: number, protoInv: boolean, ports: PortEncoding): Attr[] | undefined {
  // The match needs `-p` of the same protocol (the kernel refuses it otherwise).
  if (proto !== IPPROTO[name] || protoInv || opts.length === 0 || opts.some((o) => o.opt !== '--sport' && o.opt !== '--dport')) return undefined;
  const sport = portOpt(opts, '--sport');
  const dport = portOpt(opts, '--dport');
  if (sport === null || dport === null) return undefined;
  if (ports === 'compat') return [xt('match', name, 0, portMatchInfo(name, sport, dport))];
  const cmpPort = (p: PortOpt): Attr => cmp(p.inv ? NFT_CMP_NEQ : NFT_CMP_EQ, u16be(p.port));
  return [
    ...(sport ? [payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2), cmpPort(sport)] : []),
    ...(dport ? [payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2), cmpPort(dport)] : []),
  ];
}

/** -m owner [!] --uid-owner N or [!] --gid-owner N (numeric): the xt owner match, revision 1. */
function ownerExprs(opts: readonly Opt[]): Attr[] | undefined {
  const [one] = opts;
  if (opts.length !== 1 || one === undefined) return undefined;
  const kind = one.opt === '--uid-owner' ? 'uid' : one.opt === '--gid-owner' ? 'gid' : undefined;
  const id = idOf(one.val);
  if (kind === undefined || id === undefined) return undefined;
  return [xt('match', 'owner', 1, ownerInfo(kind, id, one.inv))];
}

/** -m multiport [!] --dports|--sports N,N,... (single ports, at most 15): the xt multiport match, revision 1. */
function multiportExprs(opts: readonly Opt[], proto: number, protoInv: boolean): Attr[] | undefined {
  const [one] = opts;
  if (opts.length !== 1 || one === undefined || protoInv || (proto !== IPPROTO.tcp && proto !== IPPROTO.udp)) return undefined;
  if (one.opt !== '--dports' && one.opt !== '--sports') return undefined;
  const ports = one.val.split(',').map(portOf);
  if (ports.length > 15 || ports.some((p) => p === undefined)) return undefined;
  return [xt('match', 'multiport', 1, multiportInfo(one.opt === '--dports', ports as number[], one.inv))];
}

function matchExprs(name: string, opts: readonly Opt[], proto: number, protoInv: boolean, ports: PortEncoding): Attr[] | undefined {
  if (name === 'tcp' || name === 'udp') return portExprs(name, opts, proto, protoInv, ports);
  if (name === 'owner') return ownerExprs(opts);
  if (name === 'multiport') return multiportExprs(opts, proto, protoInv);
  return undefined;
}

const CHAIN_NAME = /^[A-Za-z0-9_.-]{1,28}$/;

/** REDIRECT --to-ports N: needs a protocol with ports (xt_REDIRECT checks it). */
function redirectExprs(family: Family, opts: readonly Opt[], proto: number, protoInv: boolean): Attr[] | undefined {
  const [o] = opts;
  const port = portOf(o?.val);
  const ported = !protoInv && (proto === IPPROTO.tcp || proto === IPPROTO.udp);
  if (opts.length !== 1 || o?.opt !== '--to-ports' || o.inv || port === undefined || !ported) return undefined;
  return [xt('target', 'REDIRECT', 0, redirectInfo(family, port))];
}

/** CT --zone N (the raw table's DNS conntrack zones). */
function ctExprs(opts: readonly Opt[]): Attr[] | undefined {
  const [o] = opts;
  const zone = portOf(o?.val); // a zone is a 16-bit number, like a port
  if (opts.length !== 1 || o?.opt !== '--zone' || o.inv || zone === undefined) return undefined;
  return [xt('target', 'CT', 2, ctInfo(zone))];
}

function targetExprs(
  family: Family,
  table: string,
  target: NonNullable<ParsedRule['target']>,
  proto: number,
  protoInv: boolean,
  isChain: (name: string) => boolean,
): Attr[] | undefined {
  const { name, opts } = target;
  if (name === 'REDIRECT') return table === 'nat' ? redirectExprs(family, opts, proto, protoInv) : undefined;
  if (name === 'CT') return table === 'raw' ? ctExprs(opts) : undefined;
  if (opts.length > 0) return undefined;
  if (name === 'RETURN') return [verdict(NFT_RETURN)];
  if (name === 'ACCEPT') return [verdict(NF_ACCEPT)];
  // A jump to a user chain; every other target is an extension this encoder does not write.
  if (!isChain(name) || !CHAIN_NAME.test(name) || BUILTIN.has(name)) return undefined;
  return [verdict(NFT_JUMP, name)];
}

// ---------------------------------------------------------------------------------------------------------------
// Messages and the batch

class BatchWriter {
  private readonly parts: Buffer[] = [];
  private seq = 0;
  readonly what = new Map<number, string>();
  acks = 0;

  constructor(private readonly family: number) {}

  private msg(type: number, flags: number, family: number, resId: number, attrs: Attr[]): number {
    const seq = this.seq++;
    const body = Buffer.concat(attrs);
    const hdr = Buffer.alloc(20);
    u32h(hdr, 0, 20 + body.length);
    u16h(hdr, 4, type);
    u16h(hdr, 6, flags);
    u32h(hdr, 8, seq);
    u32h(hdr, 12, 0);
    hdr[16] = family;
    hdr[17] = 0; // NFNETLINK_V0
    hdr.writeUInt16BE(resId, 18);
    this.parts.push(hdr, body);
    return seq;
  }

  begin(): void {
    this.msg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, []);
  }

  end(): void {
    this.msg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES, []);
  }

  nft(type: number, flags: number, attrs: Attr[], what: string): void {
    const seq = this.msg((NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_REQUEST | NLM_F_ACK | flags, this.family, 0, attrs);
    this.what.set(seq, what);
    this.acks++;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Encodes a restore input line by line; a line it does not cover makes the whole input unencodable. */
class RestoreEncoder {
  private readonly w: BatchWriter;
  private table: string | undefined;
  /** `table/chain` of the chains this batch creates (declared, or built-in ones before their first rule). */
  private readonly created = new Set<string>();
  /** `table/chain` of the declared (user) chains. */
  private readonly user = new Set<string>();
  private readonly tables = new Set<string>();

  constructor(
    private readonly family: Family,
    private readonly ports: PortEncoding,
  ) {
    this.w = new BatchWriter(NFPROTO[family]);
    this.w.begin();
  }

  /** false: the line is not something this encoder writes. */
  line(line: string): boolean {
    if (line === '' || line.startsWith('#')) return true;
    if (line.startsWith('*')) return this.startTable(line.slice(1));
    if (this.table === undefined) return false;
    if (line === 'COMMIT') {
      this.table = undefined;
      return true;
    }
    const decl = /^:(\S+) - \[0:0\]$/.exec(line);
    if (decl !== null) return this.declare(this.table, decl[1] ?? '');
    const append = /^-A (\S+) (.+)$/.exec(line);
    return append !== null && this.append(this.table, append[1] ?? '', append[2] ?? '', line);
  }

  finish(): NetlinkBatch | undefined {
    if (this.table !== undefined || this.w.acks === 0) return undefined;
    this.w.end();
    return { bytes: this.w.bytes(), what: this.w.what, acks: this.w.acks };
  }

  private startTable(name: string): boolean {
    if (this.table !== undefined || TABLES[name] === undefined || this.tables.has(name)) return false;
    this.table = name;
    this.tables.add(name);
    this.w.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, [str(1, name)], `table ${name}`);
    return true;
  }

  /** A declared chain is created, or flushed if it exists (what --noflush does with a declaration). */
  private declare(table: string, name: string): boolean {
    const key = `${table}/${name}`;
    if (!CHAIN_NAME.test(name) || BUILTIN.has(name) || this.created.has(key)) return false;
    this.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, [str(1, table), str(3, name)], `chain ${name} of table ${table}`);
    this.w.nft(NFT_MSG_DELRULE, 0, [str(1, table), str(2, name)], `flush of chain ${name} of table ${table}`);
    this.created.add(key);
    this.user.add(key);
    return true;
  }

  private append(table: string, chain: string, spec: string, line: string): boolean {
    const t = TABLES[table];
    const hook = t?.hooks[chain];
    if (t === undefined || (hook === undefined && !this.user.has(`${table}/${chain}`))) return false;
    const rule = encodeRule(this.family, spec.split(' '), (n) => this.user.has(`${table}/${n}`), table, this.ports);
    if (rule === undefined) return false;
    if (hook !== undefined && !this.created.has(`${table}/${chain}`)) {
      // iptables-nft creates a built-in chain when a rule first needs it: a base chain of the table's type, policy accept.
      const hookAttr = nested(4, be32(1, hook.hook), be32(2, hook.priority));
      this.w.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, [str(1, table), str(3, chain), hookAttr, be32(5, NF_ACCEPT), str(7, t.type)], `chain ${chain} of table ${table}`);
      this.created.add(`${table}/${chain}`);
    }
    const compat = nested(5, be32(1, rule.proto), be32(2, rule.protoInv ? NFT_RULE_COMPAT_F_INV : 0));
    this.w.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, [str(1, table), str(2, chain), nested(4, ...rule.exprs), compat], `${line} (table ${table})`);
    return true;
  }
}

/**
 * The batch that does what `iptables-nft-restore --noflush` does with this input in a netns, or undefined when
 * the input has anything this encoder does not write. The input is what renderRestore gives a fresh netns: per
 * table, declarations of our chains and appended rules (`*table`, `:CHAIN - [0:0]`, `-A CHAIN ...`, `COMMIT`).
 */
export function encodeRestore(input: string, family: Family, ports: PortEncoding = 'compat'): NetlinkBatch | undefined {
  const enc = new RestoreEncoder(family, ports);
  for (const line of input.split('\n')) if (!enc.line(line)) return undefined;
  return enc.finish();
}
