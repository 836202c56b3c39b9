// config → rule set. Same rules, in the same order, as current istio-iptables (the reference is Istio 1.29,
// `tools/istio-iptables/pkg/capture/run.go`; see ADR 0003), with every rule written in the canonical form
// iptables-save prints, so desired and live state compare as text.
// Pure and deterministic: same config, same rule set, same bytes.
//
// Chain hygiene (DESIGN.md principle 10): rules live only in our ISTIO_* chains; the built-in chains hold only
// jumps into them. Where istio-iptables put other rules straight into a built-in chain (excluded and kube-virt
// interfaces, TPROXY marks, DNS), a built-in chain's whole list moves, unchanged and in order, into a hook chain
// (ISTIO_HOOK_PREROUTING / ISTIO_HOOK_OUTPUT) that the built-in chain jumps to. A RETURN in the hook chain then
// ends our part of that hook exactly as a RETURN in the built-in chain did, and cleanup can remove everything
// we own from any netns without knowing the config that programmed it.
import { type Cidr, type Family } from './addr.js';
import { DNS_LISTENER_PORT, type IptablesConfig, familiesOf } from './config.js';

export type Table = 'raw' | 'mangle' | 'nat' | 'filter';

/** Rule arguments after `-A CHAIN`, one token per element, in iptables-save's canonical form. */
export type RuleSpec = readonly string[];

export interface ChainRules {
  readonly name: string;
  readonly builtin: boolean;
  readonly rules: readonly RuleSpec[];
}

export interface TableRules {
  readonly table: Table;
  /** Built-in chains first (hook order), then ours (CHAIN_ORDER). Only chains with rules. */
  readonly chains: readonly ChainRules[];
}

export interface FamilyRules {
  readonly family: Family;
  /** In TABLE_ORDER; only tables with rules. */
  readonly tables: readonly TableRules[];
}

/** Non-iptables state the rules rely on, applied with `ip -4|-6 -batch -`. */
export type IpCommand =
  /** Envoy's inbound passthrough binds ::6 (the IPv6 twin of 127.0.0.6), which must exist on lo. */
  | { readonly kind: 'loopback-address'; readonly family: Family; readonly address: string }
  /** TPROXY: packets with the mark are routed by this table ... */
  | { readonly kind: 'tproxy-rule'; readonly family: Family; readonly mark: number; readonly table: number }
  /** ... which delivers everything locally on lo. */
  | { readonly kind: 'tproxy-route'; readonly family: Family; readonly table: number };

export interface RuleSet {
  readonly families: readonly FamilyRules[];
  readonly ipCommands: readonly IpCommand[];
  /** The config it was built from: the native nftables backend builds its tables from the same config. */
  readonly config?: IptablesConfig;
}

export const CHAIN_PREFIX = 'ISTIO_';
export const TABLE_ORDER: readonly Table[] = ['raw', 'mangle', 'nat', 'filter'];
export const BUILTIN_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

export const ISTIO_HOOK_PREROUTING = 'ISTIO_HOOK_PREROUTING';
export const ISTIO_HOOK_OUTPUT = 'ISTIO_HOOK_OUTPUT';
export const ISTIO_INBOUND = 'ISTIO_INBOUND';
export const ISTIO_REDIRECT = 'ISTIO_REDIRECT';
export const ISTIO_IN_REDIRECT = 'ISTIO_IN_REDIRECT';
export const ISTIO_OUTPUT = 'ISTIO_OUTPUT';
export const ISTIO_OUTPUT_DNS = 'ISTIO_OUTPUT_DNS';
export const ISTIO_DIVERT = 'ISTIO_DIVERT';
export const ISTIO_TPROXY = 'ISTIO_TPROXY';
export const ISTIO_DROP = 'ISTIO_DROP';

/** Our chains, in the order they are declared and listed. */
export const CHAIN_ORDER: readonly string[] = [
  ISTIO_HOOK_PREROUTING,
  ISTIO_HOOK_OUTPUT,
  ISTIO_INBOUND,
  ISTIO_REDIRECT,
  ISTIO_IN_REDIRECT,
  ISTIO_OUTPUT,
  ISTIO_OUTPUT_DNS,
  ISTIO_DIVERT,
  ISTIO_TPROXY,
  ISTIO_DROP,
];

/** In TPROXY mode, Envoy marks its outbound → own-inbound packets with this, so they are not captured again. */
export const OUTBOUND_MARK = 1338;
/** Source address of Envoy's inbound passthrough connections, per family. */
const PASSTHROUGH_SOURCE: Readonly<Record<Family, string>> = { v4: '127.0.0.6/32', v6: '::6/128' };

export function ownsChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX);
}

/** The target of a rule (`-j X`), if any. */
export function targetOf(spec: RuleSpec): string | undefined {
  const i = spec.lastIndexOf('-j');
  return i >= 0 ? spec[i + 1] : undefined;
}

/** A rule in a built-in chain that only jumps into one of our chains. */
export function isOwnedJump(spec: RuleSpec): boolean {
  const t = targetOf(spec);
  return t !== undefined && ownsChain(t);
}

// ---------------------------------------------------------------------------------------------------------------

/** Everything the rule builders need to know about one family. */
interface Ctx {
  readonly cfg: IptablesConfig;
  readonly family: Family;
  readonly tproxy: boolean;
  /** `-b` is non-empty: inbound capture is on. */
  readonly inbound: boolean;
  readonly loopback: string;
  readonly passthrough: string;
  readonly dnsServers: readonly string[];
  readonly includeCidrs: { readonly all: boolean; readonly cidrs: readonly Cidr[] };
  readonly excludeCidrs: readonly Cidr[];
  /** Some included CIDR (of either family) is a loopback address: app → self traffic on lo is captured too. */
  readonly includesLoopback: boolean;
}

type Chains = Map<string, RuleSpec[]>;
type Tables = Map<Table, Chains>;

function add(tables: Tables, table: Table, chain: string, ...rules: RuleSpec[]): void {
  let chains = tables.get(table);
  if (chains === undefined) {
    chains = new Map();
    tables.set(table, chains);
  }
  const list = chains.get(chain) ?? [];
  list.push(...rules);
  chains.set(chain, list);
}

const mark = (n: number): string => `0x${n.toString(16)}`;
const tcp = ['-p', 'tcp'];
const tcpPort = (port: number | string, negate = false): string[] => ['-p', 'tcp', '-m', 'tcp', ...(negate ? ['!'] : []), '--dport', String(port)];
const udpDport = (port: number): string[] => ['-p', 'udp', '-m', 'udp', '--dport', String(port)];
const udpSport = (port: number): string[] => ['-p', 'udp', '-m', 'udp', '--sport', String(port)];
const owner = (kind: 'uid' | 'gid', id: string, negate = false): string[] => ['-m', 'owner', ...(negate ? ['!'] : []), `--${kind}-owner`, id];
const jump = (target: string): string[] => ['-j', target];
const redirectTo = (port: number): string[] => ['-j', 'REDIRECT', '--to-ports', String(port)];

function ctx(cfg: IptablesConfig, family: Family): Ctx {
  const inc = cfg.outboundCidrs;
  const incItems = inc.all ? [] : inc.items;
  return {
    cfg,
    family,
    tproxy: cfg.interceptionMode === 'TPROXY',
    inbound: cfg.inboundPorts.all || cfg.inboundPorts.items.length > 0,
    loopback: family === 'v4' ? cfg.ipv4LoopbackCidr.text : '::1/128',
    passthrough: PASSTHROUGH_SOURCE[family],
    dnsServers: cfg.dnsServers[family],
    includeCidrs: { all: inc.all, cidrs: incItems.filter((c) => c.family === family) },
    excludeCidrs: cfg.outboundCidrsExclude.filter((c) => c.family === family),
    includesLoopback: incItems.some((c) => c.loopback),
  };
}

/** The proxy's owners: every UID, then every GID. */
function proxyOwners(cfg: IptablesConfig): Array<['uid' | 'gid', string]> {
  return [...cfg.proxyUids.map((u): ['uid', string] => ['uid', u]), ...cfg.proxyGids.map((g): ['gid', string] => ['gid', g])];
}

/**
 * nat PREROUTING: kube-virt interfaces, excluded interfaces, then the jump to ISTIO_INBOUND (REDIRECT mode).
 * istio-iptables inserts each kube-virt rule at position 1 (its RETURNs first, its redirects after everything
 * else), so both groups end up in reverse order, the redirects ahead of the RETURNs.
 */
function natPrerouting(c: Ctx, t: Tables): void {
  const { cfg } = c;
  // Inbound traffic from a VM on a kube-virt interface is outbound traffic of the pod: capture it like outbound.
  const redirects: RuleSpec[] = c.includeCidrs.all
    ? cfg.kubevirtInterfaces.map((k) => ['-i', k, ...jump(ISTIO_REDIRECT)])
    : c.includeCidrs.cidrs.flatMap((cidr) => cfg.kubevirtInterfaces.map((k) => ['-d', cidr.text, '-i', k, ...jump(ISTIO_REDIRECT)]));
  add(t, 'nat', 'PREROUTING', ...redirects.reverse());
  add(t, 'nat', 'PREROUTING', ...cfg.kubevirtInterfaces.map((k) => ['-i', k, ...jump('RETURN')]).reverse());
  for (const i of cfg.excludeInterfaces) add(t, 'nat', 'PREROUTING', ['-i', i, ...jump('RETURN')]);
  if (c.inbound && !c.tproxy) add(t, 'nat', 'PREROUTING', [...tcp, ...jump(ISTIO_INBOUND)]);
}

/** Inbound capture: ISTIO_INBOUND in nat (REDIRECT) or mangle (TPROXY). */
function inbound(c: Ctx, t: Tables): void {
  const { cfg } = c;
  // The tunnel port is never captured (nat, as istio-iptables does in both modes).
  add(t, 'nat', ISTIO_INBOUND, [...tcpPort(cfg.inboundTunnelPort), ...jump('RETURN')]);
  add(t, 'nat', ISTIO_REDIRECT, [...tcp, ...redirectTo(cfg.proxyPort)]);
  add(t, 'nat', ISTIO_IN_REDIRECT, [...tcp, ...redirectTo(cfg.inboundCapturePort)]);
  if (c.tproxy) tproxyGuards(c, t);
  if (!c.inbound) return;
  const table: Table = c.tproxy ? 'mangle' : 'nat';
  const capture = (port?: number): RuleSpec[] => {
    const match = port === undefined ? tcp : tcpPort(port);
    if (!c.tproxy) return [[...match, ...jump(ISTIO_IN_REDIRECT)]];
    // An established connection is diverted to the local socket; a new one is handed to TPROXY.
    return [
      [...match, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...jump(ISTIO_DIVERT)],
      [...match, ...jump(ISTIO_TPROXY)],
    ];
  };
  if (cfg.inboundPorts.all) {
    for (const p of cfg.inboundPortsExclude) add(t, table, ISTIO_INBOUND, [...tcpPort(p), ...jump('RETURN')]);
    add(t, table, ISTIO_INBOUND, ...capture());
  } else {
    for (const p of cfg.inboundPorts.items) add(t, table, ISTIO_INBOUND, ...capture(p));
  }
  if (c.tproxy) {
    add(t, 'mangle', ISTIO_DIVERT, ['-j', 'MARK', '--set-xmark', `${mark(cfg.tproxyMark)}/0xffffffff`], jump('ACCEPT'));
    const onIp = c.family === 'v4' ? '0.0.0.0' : '::';
    add(t, 'mangle', ISTIO_TPROXY, ['!', '-d', c.loopback, ...tcp, '-j', 'TPROXY', '--on-port', String(cfg.inboundCapturePort), '--on-ip', onIp, '--tproxy-mark', `${mark(cfg.tproxyMark)}/0xffffffff`]);
  }
}

/** TPROXY: the first rules of mangle ISTIO_INBOUND, which keep Envoy's own traffic out of capture. */
function tproxyGuards(c: Ctx, t: Tables): void {
  const m = mark(c.cfg.tproxyMark);
  add(
    t,
    'mangle',
    ISTIO_INBOUND,
    // Already marked: do not capture again.
    [...tcp, '-m', 'mark', '--mark', m, ...jump('RETURN')],
    // Envoy/pilot-agent → app through the passthrough address.
    ['-s', c.passthrough, '-i', 'lo', ...tcp, ...jump('RETURN')],
    // app → app by pod IP (not marked by Envoy's outbound).
    ['-i', 'lo', ...tcp, '-m', 'mark', '!', '--mark', mark(OUTBOUND_MARK), ...jump('RETURN')],
  );
}

function ownerGroupRules(c: Ctx): RuleSpec[] {
  const { ownerGroups } = c.cfg;
  if (ownerGroups.mode === 'all-except') return ownerGroups.groups.map((g) => [...owner('gid', g), ...jump('RETURN')]);
  // One rule: return unless the owner is one of the included groups.
  return [[...ownerGroups.groups.flatMap((g) => owner('gid', g, true)), ...jump('RETURN')]];
}

/** Whether this family's nat ISTIO_OUTPUT jumps to ISTIO_OUTPUT_DNS: capture-all, or servers of the family. */
function dnsCaptured(c: Ctx): boolean {
  return c.cfg.redirectDns && (c.cfg.captureAllDns || c.dnsServers.length > 0);
}

/** nat ISTIO_OUTPUT: outbound capture, in istio-iptables' order. */
function outbound(c: Ctx, t: Tables): void {
  const { cfg } = c;
  const out = (...rules: RuleSpec[]): void => add(t, 'nat', ISTIO_OUTPUT, ...rules);
  for (const i of cfg.excludeInterfaces) add(t, 'nat', 'OUTPUT', ['-o', i, ...jump('RETURN')]);
  // Every protocol: UDP DNS is captured from ISTIO_OUTPUT_DNS, the rest of UDP falls through ISTIO_REDIRECT (TCP only).
  add(t, 'nat', 'OUTPUT', jump(ISTIO_OUTPUT));
  // Port exclusions come before connections back to self are redirected; they hold for TCP and UDP.
  for (const p of cfg.outboundPortsExclude) out([...tcpPort(p), ...jump('RETURN')], [...udpDport(p), ...jump('RETURN')]);
  // Envoy's inbound passthrough connections.
  out(['-s', c.passthrough, '-o', 'lo', ...jump('RETURN')]);
  out(...proxyOutputRules(c));
  out(...ownerGroupRules(c));
  // DNS (TCP and UDP) to the agent, after the proxy's own traffic and the excluded groups have returned.
  if (dnsCaptured(c)) out(jump(ISTIO_OUTPUT_DNS));
  // Envoy-aware applications and container-to-container traffic on localhost.
  out(['-d', c.loopback, ...jump('RETURN')]);
  for (const cidr of c.excludeCidrs) out(['-d', cidr.text, ...jump('RETURN')]);
  for (const p of cfg.outboundPorts) out([...tcpPort(p), ...jump(ISTIO_REDIRECT)]);
  out(...includeRules(c));
}

/** The tail of ISTIO_OUTPUT: redirect everything (`*`) or the included CIDRs; the rest falls off the chain. */
function includeRules(c: Ctx): RuleSpec[] {
  if (c.includeCidrs.all) return [jump(ISTIO_REDIRECT)];
  return c.includeCidrs.cidrs.map((cidr) => ['-d', cidr.text, ...jump(ISTIO_REDIRECT)]);
}

/** ISTIO_OUTPUT rules for the proxy's UIDs and GIDs: loopback handling and no loops. */
function proxyOutputRules(c: Ctx): RuleSpec[] {
  const dns = c.cfg.redirectDns;
  const tunnel = c.cfg.inboundTunnelPort;
  const out: RuleSpec[] = [];
  for (const [kind, id] of proxyOwners(c.cfg)) {
    // app → service VIP → Envoy (client) → Envoy (server) on lo: back to the inbound listener, TCP only and never
    // the tunnel port. With DNS capture the UID rule also skips port 53, so the agent's DNS goes straight to the
    // server (istio-iptables does this for UIDs only).
    const ports =
      dns && kind === 'uid' ? [...tcp, '-m', 'multiport', '!', '--dports', `53,${tunnel}`] : tcpPort(tunnel, true);
    out.push(['!', '-d', c.loopback, '-o', 'lo', ...ports, ...owner(kind, id), ...jump(ISTIO_IN_REDIRECT)]);
    // app → itself by endpoint address on lo is not captured, unless loopback is explicitly included.
    if (!c.includesLoopback) out.push(['-o', 'lo', ...(dns ? tcpPort(53, true) : []), ...owner(kind, id, true), ...jump('RETURN')]);
    // The proxy's own traffic: never captured (no loops).
    out.push([...owner(kind, id), ...jump('RETURN')]);
  }
  return out;
}

/**
 * DNS: nat ISTIO_OUTPUT_DNS (jumped from ISTIO_OUTPUT once the proxy's own traffic has returned) redirects TCP,
 * then UDP, queries to the agent; conntrack zones in raw keep app ↔ agent and agent ↔ server flows apart.
 */
function dns(c: Ctx, t: Tables): void {
  const { cfg } = c;
  if (!cfg.redirectDns) return;
  const owners = proxyOwners(cfg);
  const servers: Array<string | undefined> = cfg.captureAllDns ? [undefined] : [...c.dnsServers];
  const dst = (s: string | undefined): string[] => (s === undefined ? [] : ['-d', s]);
  const src = (s: string | undefined): string[] => (s === undefined ? [] : ['-s', s]);
  for (const s of servers) add(t, 'nat', ISTIO_OUTPUT_DNS, [...dst(s), ...tcpPort(53), ...redirectTo(DNS_LISTENER_PORT)]);
  for (const s of servers) add(t, 'nat', ISTIO_OUTPUT_DNS, [...dst(s), ...udpDport(53), ...redirectTo(DNS_LISTENER_PORT)]);

  add(t, 'raw', 'OUTPUT', jump(ISTIO_OUTPUT_DNS));
  for (const [kind, id] of owners) {
    // The agent's queries to upstream servers: zone 1; its answers to applications: zone 2.
    add(t, 'raw', ISTIO_OUTPUT_DNS, [...udpDport(53), ...owner(kind, id), '-j', 'CT', '--zone', '1'], [...udpSport(DNS_LISTENER_PORT), ...owner(kind, id), '-j', 'CT', '--zone', '2']);
  }
  // Applications' queries: zone 2; servers' answers: zone 1.
  for (const s of servers) add(t, 'raw', ISTIO_OUTPUT_DNS, [...dst(s), ...udpDport(53), '-j', 'CT', '--zone', '2']);
  if (servers.length > 0) add(t, 'raw', 'PREROUTING', jump(ISTIO_INBOUND));
  for (const s of servers) add(t, 'raw', ISTIO_INBOUND, [...src(s), ...udpSport(53), '-j', 'CT', '--zone', '1']);
}

/** mangle PREROUTING and OUTPUT: drop-invalid, the TPROXY inbound jump and TPROXY's connection marks. */
function mangle(c: Ctx, t: Tables): void {
  const { cfg } = c;
  if (c.tproxy) for (const i of cfg.excludeInterfaces) add(t, 'mangle', 'PREROUTING', ['-i', i, ...jump('RETURN')]);
  if (cfg.dropInvalid) {
    add(t, 'mangle', 'PREROUTING', ['-m', 'conntrack', '--ctstate', 'INVALID', ...jump(ISTIO_DROP)]);
    add(t, 'mangle', ISTIO_DROP, jump('DROP'));
  }
  if (!c.tproxy) return;
  if (c.inbound) add(t, 'mangle', 'PREROUTING', [...tcp, ...jump(ISTIO_INBOUND)]);
  const m = mark(cfg.tproxyMark);
  const masks = ['--nfmask', '0xffffffff', '--ctmask', '0xffffffff'];
  // Keep the mark set by Envoy's original_src listener filter on the connection ...
  add(t, 'mangle', 'PREROUTING', [...tcp, '-m', 'mark', '--mark', m, '-j', 'CONNMARK', '--save-mark', ...masks]);
  for (const i of cfg.excludeInterfaces) add(t, 'mangle', 'OUTPUT', ['-o', i, ...jump('RETURN')]);
  add(
    t,
    'mangle',
    'OUTPUT',
    // Envoy → app traffic that already carries the mark is left alone.
    ['-o', 'lo', ...tcp, '-m', 'mark', '--mark', m, ...jump('RETURN')],
    // app → VIP → Envoy outbound → Envoy inbound → app: marked so that ISTIO_INBOUND does not capture it again.
    ...proxyOwners(cfg).map(([kind, id]) => ['!', '-d', c.loopback, '-o', 'lo', ...tcp, ...owner(kind, id), '-j', 'MARK', '--set-xmark', `${mark(OUTBOUND_MARK)}/0xffffffff`]),
    // ... and restore it on the workload's replies, to match the TPROXY policy route.
    [...tcp, '-m', 'connmark', '--mark', m, '-j', 'CONNMARK', '--restore-mark', ...masks],
  );
}

/** Moves a built-in chain's rules into a hook chain when any of them is more than a jump into our chains. */
function hookWrap(table: Table, chains: Chains): Chains {
  const out: Chains = new Map(chains);
  for (const [builtin, hook] of [
    ['PREROUTING', ISTIO_HOOK_PREROUTING],
    ['OUTPUT', ISTIO_HOOK_OUTPUT],
  ] as const) {
    const rules = chains.get(builtin);
    if (rules === undefined || rules.every(isOwnedJump)) continue;
    if (chains.has(hook)) throw new Error(`bug: ${table} ${hook} already exists`);
    out.set(hook, rules);
    out.set(builtin, [jump(hook)]);
  }
  return out;
}

function orderTable(table: Table, chains: Chains): TableRules {
  const builtins = BUILTIN_CHAINS[table];
  const names = [...chains.keys()].filter((n) => (chains.get(n) ?? []).length > 0);
  for (const n of names) {
    if (!builtins.includes(n) && !CHAIN_ORDER.includes(n)) throw new Error(`bug: unknown chain ${table}/${n}`);
  }
  const ordered = [...builtins.filter((b) => names.includes(b)), ...CHAIN_ORDER.filter((o) => names.includes(o))];
  return { table, chains: ordered.map((name) => ({ name, builtin: builtins.includes(name), rules: chains.get(name) ?? [] })) };
}

function buildFamily(cfg: IptablesConfig, family: Family): FamilyRules {
  const c = ctx(cfg, family);
  const t: Tables = new Map();
  // Each built-in chain is filled by one function, so its order is explicit.
  natPrerouting(c, t);
  inbound(c, t);
  outbound(c, t);
  dns(c, t);
  mangle(c, t);
  const tables = TABLE_ORDER.filter((name) => t.has(name)).map((name) => orderTable(name, hookWrap(name, t.get(name) ?? new Map<string, RuleSpec[]>())));
  return { family, tables: tables.filter((tr) => tr.chains.length > 0) };
}

/** The ip state a config needs (IPv6 ::6 on lo, TPROXY policy routing), for either backend. */
export function ipCommandsOf(cfg: IptablesConfig): IpCommand[] {
  const out: IpCommand[] = [];
  const inboundOn = cfg.inboundPorts.all || cfg.inboundPorts.items.length > 0;
  for (const family of familiesOf(cfg)) {
    if (family === 'v6') out.push({ kind: 'loopback-address', family, address: PASSTHROUGH_SOURCE.v6 });
    if (cfg.interceptionMode === 'TPROXY' && inboundOn) {
      out.push({ kind: 'tproxy-rule', family, mark: cfg.tproxyMark, table: cfg.tproxyRouteTable });
      out.push({ kind: 'tproxy-route', family, table: cfg.tproxyRouteTable });
    }
  }
  return out;
}

/** Builds the complete desired rule set for a config. */
export function buildRuleSet(cfg: IptablesConfig): RuleSet {
  return { families: familiesOf(cfg).map((f) => buildFamily(cfg, f)), ipCommands: ipCommandsOf(cfg), config: cfg };
}

/** The rules of one family, or an empty family when the rule set does not program it. */
export function familyRules(ruleSet: RuleSet, family: Family): FamilyRules {
  return ruleSet.families.find((f) => f.family === family) ?? { family, tables: [] };
}

/** Number of rules (all tables, all chains) of a family. */
export function countRules(rules: FamilyRules): number {
  return rules.tables.reduce((n, t) => n + t.chains.reduce((m, c) => m + c.rules.length, 0), 0);
}
