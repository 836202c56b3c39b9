// config → native nftables rule set, as Istio's nftables backend (1.27+, `tools/istio-nftables/pkg/capture`)
// builds it for the same flags: three `inet` tables (istio-proxy-nat, -mangle, -raw), each with base chains
// `prerouting` / `output` and Istio's regular chains, the same rules in the same order. Pure and deterministic.
//
// Every rule is written in the form `nft list` prints it back (quoted interface names, no /32 or /128, marks in
// hex, `meta l4proto tcp` dropped where a tcp port match implies it, `meta skuid`), with `counter` and without
// its values: desired and live state then compare as text once the live counters' values are dropped, and the
// real-kernel tests check that every golden case reads back exactly so.
//
// Applying replaces each table that differs in one `nft -f` transaction (add, delete, add with its chains and
// rules), so a table is never seen half-written and chains no longer wanted do not linger; tables we no longer
// want are deleted in the same transaction. Cleanup deletes our tables: nothing of ours lives anywhere else.
import type { Cidr, Family } from './addr.js';
import { type IpCommand, ipCommandsOf } from './builder.js';
import { DNS_LISTENER_PORT, type IptablesConfig } from './config.js';

export const NFT_NAT = 'istio-proxy-nat';
export const NFT_MANGLE = 'istio-proxy-mangle';
export const NFT_RAW = 'istio-proxy-raw';
export const NFT_TABLES: readonly string[] = [NFT_NAT, NFT_MANGLE, NFT_RAW];

const PREROUTING = 'prerouting';
const OUTPUT = 'output';
const INBOUND = 'istio-inbound';
const REDIRECT = 'istio-redirect';
const IN_REDIRECT = 'istio-in-redirect';
const OUTPUT_CHAIN = 'istio-output';
const OUTPUT_DNS = 'istio-output-dns';
const DIVERT = 'istio-divert';
const TPROXY = 'istio-tproxy';
const DROP = 'istio-drop';

/** Base chain declarations (as `nft list` prints them) and the chain order of each table, as Istio declares them. */
const CHAINS: Readonly<Record<string, ReadonlyArray<readonly [string, string | undefined]>>> = {
  [NFT_NAT]: [
    [PREROUTING, 'type nat hook prerouting priority dstnat; policy accept;'],
    // Istio asks for the dstnat priority (-100), which nft only names so on prerouting.
    [OUTPUT, 'type nat hook output priority -100; policy accept;'],
    [INBOUND, undefined],
    [REDIRECT, undefined],
    [IN_REDIRECT, undefined],
    [OUTPUT_CHAIN, undefined],
    [OUTPUT_DNS, undefined],
  ],
  [NFT_MANGLE]: [
    [PREROUTING, 'type filter hook prerouting priority mangle; policy accept;'],
    [OUTPUT, 'type route hook output priority mangle; policy accept;'],
    [DIVERT, undefined],
    [TPROXY, undefined],
    [INBOUND, undefined],
    [DROP, undefined],
  ],
  [NFT_RAW]: [
    [PREROUTING, 'type filter hook prerouting priority raw; policy accept;'],
    [OUTPUT, 'type filter hook output priority raw; policy accept;'],
    [INBOUND, undefined],
    [OUTPUT_DNS, undefined],
  ],
};

export interface NftChain {
  readonly name: string;
  /** The base chain's declaration (`type … hook … priority …; policy accept;`); undefined for a regular chain. */
  readonly base?: string;
  /** Rules as `nft list` prints them, with `counter` but without its values. */
  readonly rules: readonly string[];
}

export interface NftTable {
  readonly name: string;
  readonly chains: readonly NftChain[];
}

export interface NftRuleSet {
  /** Only tables with rules, in NFT_TABLES order; only chains with rules. */
  readonly tables: readonly NftTable[];
  /** The same ip state as the iptables rule set (IPv6 ::6 on lo, TPROXY policy routing). */
  readonly ipCommands: readonly IpCommand[];
  /** The families the rule set covers (one inet table serves both; IPv6 rules only with --ipv6). */
  readonly families: readonly Family[];
}

// ---------------------------------------------------------------------------------------------------------------

/** Appends and inserts as Istio's nftables backend does them, per table and chain. */
class Builder {
  readonly rules = new Map<string, Map<string, string[]>>();

  private list(table: string, chain: string): string[] {
    let chains = this.rules.get(table);
    if (chains === undefined) {
      chains = new Map();
      this.rules.set(table, chains);
    }
    let l = chains.get(chain);
    if (l === undefined) {
      l = [];
      chains.set(chain, l);
    }
    return l;
  }

  add(table: string, chain: string, ...rules: string[]): void {
    this.list(table, chain).push(...rules);
  }

  /**
   * Istio's InsertRule: position `index` (0 = first), turned into an append when the chain has no more than
   * `index` rules yet (nft refuses an insert there).
   */
  insert(table: string, chain: string, index: number, rule: string): void {
    const l = this.list(table, chain);
    if (index >= l.length) l.push(rule);
    else l.splice(index, 0, rule);
  }
}

const C = 'counter';
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
/** An address or CIDR as nft prints it: host prefixes without their length. */
const addr = (cidr: string): string => cidr.replace(cidr.includes(':') ? /\/128$/ : /\/32$/, '');
const iface = (name: string): string => `"${name}"`;
const ipKw = (family: Family): string => (family === 'v4' ? 'ip' : 'ip6');

interface Ctx {
  readonly cfg: IptablesConfig;
  readonly b: Builder;
  readonly families: readonly Family[];
  readonly tproxy: boolean;
  readonly dns: boolean;
  readonly loopback: Readonly<Record<Family, string>>;
}

function excludeInterfaces(c: Ctx): void {
  const { cfg, b } = c;
  for (const i of cfg.excludeInterfaces) {
    b.add(NFT_NAT, PREROUTING, `iifname ${iface(i)} ${C} return`);
    b.add(NFT_NAT, OUTPUT, `oifname ${iface(i)} ${C} return`);
  }
  if (!c.tproxy) return;
  for (const i of cfg.excludeInterfaces) {
    b.add(NFT_MANGLE, PREROUTING, `iifname ${iface(i)} ${C} return`);
    b.add(NFT_MANGLE, OUTPUT, `oifname ${iface(i)} ${C} return`);
  }
}

function inboundTproxy(c: Ctx): void {
  const { cfg, b } = c;
  const m = hex(cfg.tproxyMark);
  b.add(NFT_MANGLE, DIVERT, `${C} meta mark set ${m}`, `${C} accept`);
  for (const f of c.families) {
    b.add(NFT_MANGLE, TPROXY, `meta l4proto tcp ${ipKw(f)} daddr != ${addr(c.loopback[f])} tproxy ${ipKw(f)} to :${cfg.inboundCapturePort} meta mark set ${m} ${C} accept`);
  }
  b.add(NFT_MANGLE, PREROUTING, `meta l4proto tcp ${C} jump ${INBOUND}`);
  if (cfg.inboundPorts.all) {
    for (const p of cfg.inboundPortsExclude) b.add(NFT_MANGLE, INBOUND, `tcp dport ${p} ${C} return`);
    b.add(NFT_MANGLE, INBOUND, `meta l4proto tcp ct state established,related ${C} jump ${DIVERT}`, `meta l4proto tcp ${C} jump ${TPROXY}`);
  } else {
    for (const p of cfg.inboundPorts.items) {
      b.add(NFT_MANGLE, INBOUND, `ct state established,related tcp dport ${p} ${C} jump ${DIVERT}`, `tcp dport ${p} ${C} jump ${TPROXY}`);
    }
  }
}

function inbound(c: Ctx): void {
  const { cfg, b } = c;
  if (!cfg.inboundPorts.all && cfg.inboundPorts.items.length === 0) return;
  if (c.tproxy) {
    inboundTproxy(c);
    return;
  }
  b.add(NFT_NAT, PREROUTING, `meta l4proto tcp ${C} jump ${INBOUND}`);
  if (cfg.inboundPorts.all) {
    for (const p of cfg.inboundPortsExclude) b.add(NFT_NAT, INBOUND, `tcp dport ${p} ${C} return`);
    b.add(NFT_NAT, INBOUND, `meta l4proto tcp ${C} jump ${IN_REDIRECT}`);
  } else {
    for (const p of cfg.inboundPorts.items) b.add(NFT_NAT, INBOUND, `tcp dport ${p} ${C} jump ${IN_REDIRECT}`);
  }
}

/** `{ 53, 15008 }` as nft prints an anonymous set: sorted, deduplicated. */
function portSet(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((x, y) => x - y);
  return sorted.length === 1 ? String(sorted[0]) : `{ ${sorted.join(', ')} }`;
}

function proxyOwners(c: Ctx): void {
  const { cfg, b } = c;
  const tunnel = cfg.inboundTunnelPort;
  const includesLoopback = !cfg.outboundCidrs.all && cfg.outboundCidrs.items.some((x) => x.loopback);
  const owners: Array<['skuid' | 'skgid', string]> = [...cfg.proxyUids.map((u): ['skuid', string] => ['skuid', u]), ...cfg.proxyGids.map((g): ['skgid', string] => ['skgid', g])];
  for (const [kind, id] of owners) {
    const ports = c.dns && kind === 'skuid' ? portSet([53, tunnel]) : String(tunnel);
    for (const f of c.families) {
      b.add(NFT_NAT, OUTPUT_CHAIN, `oifname "lo" ${ipKw(f)} daddr != ${addr(c.loopback[f])} tcp dport != ${ports} meta ${kind} ${id} ${C} jump ${IN_REDIRECT}`);
    }
    if (!includesLoopback) b.add(NFT_NAT, OUTPUT_CHAIN, `oifname "lo" ${c.dns ? 'tcp dport != 53 ' : ''}meta ${kind} != ${id} ${C} return`);
    b.add(NFT_NAT, OUTPUT_CHAIN, `meta ${kind} ${id} ${C} return`);
  }
  const g = cfg.ownerGroups;
  if (g.mode === 'all-except') for (const id of g.groups) b.add(NFT_NAT, OUTPUT_CHAIN, `meta skgid ${id} ${C} return`);
  else b.add(NFT_NAT, OUTPUT_CHAIN, `${g.groups.map((id) => `meta skgid != ${id} `).join('')}${C} return`);
}

function dnsServers(c: Ctx): Array<[Family, string]> {
  return c.families.flatMap((f) => c.cfg.dnsServers[f].map((s): [Family, string] => [f, addr(s)]));
}

function dns(c: Ctx): void {
  const { cfg, b } = c;
  if (!c.dns) return;
  const servers = dnsServers(c);
  const all = cfg.captureAllDns;
  b.add(NFT_RAW, OUTPUT, `${C} jump ${OUTPUT_DNS}`);
  if (all || servers.length > 0) b.add(NFT_NAT, OUTPUT_CHAIN, `${C} jump ${OUTPUT_DNS}`);
  const to = `${C} redirect to :${DNS_LISTENER_PORT}`;
  for (const proto of ['tcp', 'udp']) {
    if (all) b.add(NFT_NAT, OUTPUT_DNS, `${proto} dport 53 ${to}`);
    else for (const [f, s] of servers) b.add(NFT_NAT, OUTPUT_DNS, `${ipKw(f)} daddr ${s} ${proto} dport 53 ${to}`);
  }
  for (const [kind, ids] of [
    ['skuid', cfg.proxyUids],
    ['skgid', cfg.proxyGids],
  ] as const) {
    for (const id of ids) {
      b.add(NFT_RAW, OUTPUT_DNS, `udp dport 53 meta ${kind} ${id} ${C} ct zone set 1`, `udp sport ${DNS_LISTENER_PORT} meta ${kind} ${id} ${C} ct zone set 2`);
    }
  }
  if (all) {
    b.add(NFT_RAW, PREROUTING, `${C} jump ${INBOUND}`);
    b.add(NFT_RAW, OUTPUT_DNS, `udp dport 53 ${C} ct zone set 2`);
    b.add(NFT_RAW, INBOUND, `udp sport 53 ${C} ct zone set 1`);
    return;
  }
  if (servers.length > 0) b.add(NFT_RAW, PREROUTING, `${C} jump ${INBOUND}`);
  for (const [f, s] of servers) {
    b.add(NFT_RAW, OUTPUT_DNS, `udp dport 53 ${ipKw(f)} daddr ${s} ${C} ct zone set 2`);
    b.add(NFT_RAW, INBOUND, `udp sport 53 ${ipKw(f)} saddr ${s} ${C} ct zone set 1`);
  }
}

function outboundTail(c: Ctx): void {
  const { cfg, b } = c;
  for (const f of c.families) b.add(NFT_NAT, OUTPUT_CHAIN, `${ipKw(f)} daddr ${addr(c.loopback[f])} ${C} return`);
  for (const f of c.families) for (const x of cfg.outboundCidrsExclude.filter((y) => y.family === f)) b.add(NFT_NAT, OUTPUT_CHAIN, `${ipKw(f)} daddr ${addr(x.text)} ${C} return`);
  for (const p of cfg.outboundPorts) b.add(NFT_NAT, OUTPUT_CHAIN, `tcp dport ${p} ${C} jump ${REDIRECT}`);
  if (cfg.outboundCidrs.all) {
    b.add(NFT_NAT, OUTPUT_CHAIN, `${C} jump ${REDIRECT}`);
    for (const k of cfg.kubevirtInterfaces) b.insert(NFT_NAT, PREROUTING, 0, `iifname ${iface(k)} ${C} jump ${REDIRECT}`);
    return;
  }
  for (const f of c.families) {
    for (const x of cfg.outboundCidrs.items.filter((y: Cidr) => y.family === f)) {
      for (const k of cfg.kubevirtInterfaces) b.insert(NFT_NAT, PREROUTING, 0, `iifname ${iface(k)} ${ipKw(f)} daddr ${addr(x.text)} ${C} jump ${REDIRECT}`);
      b.add(NFT_NAT, OUTPUT_CHAIN, `${ipKw(f)} daddr ${addr(x.text)} ${C} jump ${REDIRECT}`);
    }
  }
}

function tproxyMarks(c: Ctx): void {
  const { cfg, b } = c;
  if (!c.tproxy) return;
  const m = hex(cfg.tproxyMark);
  const out = hex(1338);
  b.add(NFT_MANGLE, PREROUTING, `meta l4proto tcp meta mark ${m} ${C} ct mark set meta mark`);
  b.add(NFT_MANGLE, OUTPUT, `oifname "lo" meta l4proto tcp meta mark ${m} ${C} return`);
  for (const [kind, ids] of [
    ['skuid', cfg.proxyUids],
    ['skgid', cfg.proxyGids],
  ] as const) {
    for (const id of ids) {
      for (const f of c.families) b.add(NFT_MANGLE, OUTPUT, `oifname "lo" meta l4proto tcp ${ipKw(f)} daddr != ${addr(c.loopback[f])} meta ${kind} ${id} ${C} meta mark set ${out}`);
    }
  }
  b.add(NFT_MANGLE, OUTPUT, `meta l4proto tcp ct mark ${m} ${C} meta mark set ct mark`);
  b.insert(NFT_MANGLE, INBOUND, 0, `meta l4proto tcp meta mark ${m} ${C} return`);
  b.insert(NFT_MANGLE, INBOUND, 1, `iifname "lo" meta l4proto tcp ip saddr 127.0.0.6 ${C} return`);
  if (c.families.includes('v6')) b.insert(NFT_MANGLE, INBOUND, 1, `iifname "lo" meta l4proto tcp ip6 saddr ::6 ${C} return`);
  b.insert(NFT_MANGLE, INBOUND, 2, `iifname "lo" meta l4proto tcp meta mark != ${out} ${C} return`);
}

/** Builds the native nftables rule set for a config, in Istio's nftables backend's order. */
export function buildNftRuleSet(cfg: IptablesConfig): NftRuleSet {
  const families: Family[] = cfg.ipv6 ? ['v4', 'v6'] : ['v4'];
  const b = new Builder();
  const c: Ctx = { cfg, b, families, tproxy: cfg.interceptionMode === 'TPROXY', dns: cfg.redirectDns, loopback: { v4: cfg.ipv4LoopbackCidr.text, v6: '::1/128' } };
  excludeInterfaces(c);
  for (const k of cfg.kubevirtInterfaces) b.insert(NFT_NAT, PREROUTING, 0, `iifname ${iface(k)} ${C} return`);
  if (cfg.dropInvalid) {
    b.add(NFT_MANGLE, PREROUTING, `meta l4proto tcp ct state invalid ${C} jump ${DROP}`);
    b.add(NFT_MANGLE, DROP, `${C} drop`);
  }
  b.add(NFT_NAT, INBOUND, `tcp dport ${cfg.inboundTunnelPort} ${C} return`);
  b.add(NFT_NAT, REDIRECT, `meta l4proto tcp ${C} redirect to :${cfg.proxyPort}`);
  b.add(NFT_NAT, IN_REDIRECT, `meta l4proto tcp ${C} redirect to :${cfg.inboundCapturePort}`);
  inbound(c);
  b.add(NFT_NAT, OUTPUT, `${C} jump ${OUTPUT_CHAIN}`);
  for (const p of cfg.outboundPortsExclude) b.add(NFT_NAT, OUTPUT_CHAIN, `tcp dport ${p} ${C} return`, `udp dport ${p} ${C} return`);
  b.add(NFT_NAT, OUTPUT_CHAIN, `oifname "lo" ip saddr 127.0.0.6 ${C} return`);
  if (families.includes('v6')) b.add(NFT_NAT, OUTPUT_CHAIN, `oifname "lo" ip6 saddr ::6 ${C} return`);
  proxyOwners(c);
  dns(c);
  outboundTail(c);
  tproxyMarks(c);
  const tables: NftTable[] = [];
  for (const name of NFT_TABLES) {
    const rules = b.rules.get(name);
    if (rules === undefined) continue;
    const chains = (CHAINS[name] ?? []).filter(([chain]) => (rules.get(chain) ?? []).length > 0).map(([chain, base]) => ({ name: chain, ...(base === undefined ? {} : { base }), rules: rules.get(chain) ?? [] }));
    if (chains.length > 0) tables.push({ name, chains });
  }
  return { tables, ipCommands: ipCommandsOf(cfg), families };
}

// ---------------------------------------------------------------------------------------------------------------
// Live state: `nft list ruleset` (or `nft list table …`) output, our tables only.

export interface NftState {
  readonly tables: readonly NftTable[];
}

export const EMPTY_NFT_STATE: NftState = { tables: [] };

export class NftParseError extends Error {
  override name = 'NftParseError';
}

/** `counter packets N bytes M` → `counter`: what we write and what nft prints then compare equal. */
export function withoutCounterValues(rule: string): string {
  return rule.replace(/\bcounter packets \d+ bytes \d+/g, 'counter');
}

type MutableChain = { name: string; base?: string; rules: string[] };
type MutableTable = { name: string; chains: MutableChain[] };

interface ParseCursor {
  depth: number;
  table?: MutableTable;
  chain?: MutableChain;
}

/** One line at the cursor's depth: a table (0), a chain of ours (1), a declaration or rule of ours (2). */
function parseNftLine(line: string, n: number, cur: ParseCursor, tables: MutableTable[]): void {
  if (cur.depth === 0) {
    const m = /^table (\S+) (\S+) \{$/.exec(line);
    if (m === null) throw new NftParseError(`nft output, line ${n}: expected a table, got "${line}"`);
    cur.table = m[1] === 'inet' && NFT_TABLES.includes(m[2] as string) ? { name: m[2] as string, chains: [] } : undefined;
    if (cur.table !== undefined) tables.push(cur.table);
    return;
  }
  if (line === '}') return;
  if (cur.depth === 1) {
    const m = /^chain (\S+) \{$/.exec(line);
    cur.chain = m === null || cur.table === undefined ? undefined : { name: m[1] as string, rules: [] };
    if (cur.chain !== undefined) cur.table?.chains.push(cur.chain);
  } else if (cur.depth === 2 && cur.chain !== undefined) {
    if (/^type \S+ hook \S+ /.test(line)) cur.chain.base = line;
    else cur.chain.rules.push(withoutCounterValues(line));
  }
}

/** Parses `nft list ruleset` output; keeps only our `inet istio-proxy-*` tables. */
export function parseNftList(text: string): NftState {
  const tables: MutableTable[] = [];
  const cur: ParseCursor = { depth: 0 };
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    parseNftLine(line, i + 1, cur, tables);
    cur.depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (cur.depth < 0) throw new NftParseError(`nft output, line ${i + 1}: unbalanced "}"`);
  }
  return { tables };
}

// ---------------------------------------------------------------------------------------------------------------
// Drift, plans, cleanup

export interface NftChainDrift {
  readonly table: string;
  readonly chain: string;
  readonly reason: 'missing-table' | 'extra-table' | 'missing-chain' | 'extra-chain' | 'base-differs' | 'rules-differ';
  readonly missing: readonly string[];
  readonly extra: readonly string[];
}

export interface NftDrift {
  readonly inSync: boolean;
  readonly chains: readonly NftChainDrift[];
}

function chainDrift(table: string, w: NftChain, l: NftChain | undefined): NftChainDrift[] {
  if (l === undefined) return [{ table, chain: w.name, reason: 'missing-chain', missing: [...w.rules], extra: [] }];
  const missing = w.rules.filter((r) => !l.rules.includes(r));
  const extra = l.rules.filter((r) => !w.rules.includes(r));
  if (l.base !== w.base) return [{ table, chain: w.name, reason: 'base-differs', missing, extra }];
  if (l.rules.length !== w.rules.length || l.rules.some((r, i) => r !== w.rules[i])) return [{ table, chain: w.name, reason: 'rules-differ', missing, extra }];
  return [];
}

function tableDrift(name: string, want: NftTable | undefined, live: NftTable | undefined): NftChainDrift[] {
  if (want === undefined && live === undefined) return [];
  if (want === undefined) return [{ table: name, chain: '', reason: 'extra-table', missing: [], extra: live?.chains.flatMap((c) => c.rules) ?? [] }];
  if (live === undefined) return [{ table: name, chain: '', reason: 'missing-table', missing: want.chains.flatMap((c) => c.rules), extra: [] }];
  const out = want.chains.flatMap((w) => chainDrift(name, w, live.chains.find((c) => c.name === w.name)));
  for (const l of live.chains) {
    if (!want.chains.some((w) => w.name === l.name)) out.push({ table: name, chain: l.name, reason: 'extra-chain', missing: [], extra: [...l.rules] });
  }
  return out;
}

/** What differs between the desired tables and the live ones (ours only). */
export function nftDiff(ruleSet: Pick<NftRuleSet, 'tables'>, live: NftState): NftDrift {
  const chains = NFT_TABLES.flatMap((name) =>
    tableDrift(
      name,
      ruleSet.tables.find((t) => t.name === name),
      live.tables.find((t) => t.name === name),
    ),
  );
  return { inSync: chains.length === 0, chains };
}

function renderTable(t: NftTable): string[] {
  return [
    `add table inet ${t.name}`,
    `delete table inet ${t.name}`,
    `add table inet ${t.name}`,
    ...t.chains.map((c) => `add chain inet ${t.name} ${c.name}${c.base === undefined ? '' : ` { ${c.base} }`}`),
    ...t.chains.flatMap((c) => c.rules.map((r) => `add rule inet ${t.name} ${c.name} ${r}`)),
  ];
}

/**
 * The `nft -f` input that turns `live` into the desired tables, replacing only the tables that differ and
 * deleting ours that are no longer wanted; undefined when live is in sync. Against an empty netns this is the
 * full rule set. One transaction: nft applies all of it or nothing.
 */
export function planNftApply(ruleSet: Pick<NftRuleSet, 'tables'>, live: NftState): string | undefined {
  const lines: string[] = [];
  for (const name of NFT_TABLES) {
    const want = ruleSet.tables.find((t) => t.name === name);
    const have = live.tables.find((t) => t.name === name);
    if (tableDrift(name, want, have).length === 0) continue;
    if (want === undefined) lines.push(`delete table inet ${name}`);
    else lines.push(...renderTable(want));
  }
  return lines.length === 0 ? undefined : `${lines.join('\n')}\n`;
}

/** The input for a fresh netns (what --dry-run prints). */
export function renderNft(ruleSet: Pick<NftRuleSet, 'tables'>): string {
  return planNftApply(ruleSet, EMPTY_NFT_STATE) ?? '';
}

/** Deletes every table of ours in `live`; undefined when there is none. Needs no config. */
export function planNftCleanup(live: NftState): string | undefined {
  return planNftApply({ tables: [] }, live);
}

export const NFT_LIST = { cmd: 'nft', args: ['list', 'ruleset'] } as const;
export const NFT_APPLY = { cmd: 'nft', args: ['-f', '-'] } as const;
