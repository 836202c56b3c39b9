// Rule set → `iptables-restore --noflush` input, and everything derived from the same rule set: the drift
// between desired and live state, the minimal restore that brings live to desired (idempotent ADD, repair), and
// the cleanup that removes everything we own. Pure.
//
// How a plan stays safe under --noflush:
// - declaring a chain that exists (`:ISTIO_X - [0:0]`) flushes it, so a chain whose rules differ is declared
//   and refilled in the same transaction, and a chain that is already right is not touched;
// - jumps in built-in chains are only ever deleted when they were seen in the live state (so `-D` never fails),
//   and re-added in order when the live sequence of our jumps differs from the desired one;
// - our chains that are no longer wanted are flushed, then deleted after every reference to them is gone.
import type { Family } from './addr.js';
import {
  type ChainRules,
  type FamilyRules,
  type IpCommand,
  type RuleSet,
  type RuleSpec,
  type Table,
  BUILTIN_CHAINS,
  CHAIN_ORDER,
  TABLE_ORDER,
  familyRules,
  isOwnedJump,
  ownsChain,
} from './builder.js';
import { type IpRoutingState, type SaveState, type SavedChain, EMPTY_STATE, ruleText } from './parse.js';
import { encodeRestore } from './nfnetlink.js';

// ---------------------------------------------------------------------------------------------------------------
// Drift

export type ChainDriftReason = 'missing-chain' | 'extra-chain' | 'rules-differ' | 'jumps-differ';

export interface ChainDrift {
  readonly table: string;
  readonly chain: string;
  readonly reason: ChainDriftReason;
  /** Desired rules absent from the live chain. */
  readonly missing: readonly RuleSpec[];
  /** Live rules (ours) that are not desired. */
  readonly extra: readonly RuleSpec[];
}

export interface Drift {
  readonly family: Family;
  readonly inSync: boolean;
  readonly chains: readonly ChainDrift[];
}

const key = (r: RuleSpec): string => ruleText(r);

function sameSequence(a: readonly RuleSpec[], b: readonly RuleSpec[]): boolean {
  return a.length === b.length && a.every((r, i) => key(r) === key(b[i] ?? []));
}

/** Multiset difference a − b. */
function minus(a: readonly RuleSpec[], b: readonly RuleSpec[]): RuleSpec[] {
  const counts = new Map<string, number>();
  for (const r of b) counts.set(key(r), (counts.get(key(r)) ?? 0) + 1);
  return a.filter((r) => {
    const n = counts.get(key(r)) ?? 0;
    if (n === 0) return true;
    counts.set(key(r), n - 1);
    return false;
  });
}

/** Our part of a live chain: all of it for our chains, only the jumps into ours for built-in chains. */
function ownedRules(chain: SavedChain | undefined, builtin: boolean): RuleSpec[] {
  if (chain === undefined) return [];
  return builtin ? chain.rules.filter(isOwnedJump) : [...chain.rules];
}

interface TablePair {
  readonly table: string;
  readonly desired: readonly ChainRules[];
  readonly live: readonly SavedChain[];
}

function tablePairs(desired: FamilyRules, live: SaveState): TablePair[] {
  const names = [...new Set([...desired.tables.map((t) => t.table), ...live.tables.map((t) => t.name)])];
  const rank = (n: string): number => (TABLE_ORDER as readonly string[]).indexOf(n) + 1 || TABLE_ORDER.length + 1;
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return names.map((table) => ({
    table,
    desired: desired.tables.find((t) => t.table === table)?.chains ?? [],
    live: live.tables.find((t) => t.name === table)?.chains ?? [],
  }));
}

function isBuiltin(table: string, chain: string): boolean {
  return (BUILTIN_CHAINS[table as Table] ?? []).includes(chain) || !ownsChain(chain);
}

function tableDrift(p: TablePair): ChainDrift[] {
  const out: ChainDrift[] = [];
  const wanted = new Map(p.desired.map((c) => [c.name, c]));
  for (const c of p.desired) {
    const liveChain = p.live.find((l) => l.name === c.name);
    const live = ownedRules(liveChain, c.builtin);
    if (sameSequence(c.rules, live)) continue;
    const reason: ChainDriftReason = c.builtin ? 'jumps-differ' : liveChain === undefined ? 'missing-chain' : 'rules-differ';
    out.push({ table: p.table, chain: c.name, reason, missing: minus(c.rules, live), extra: minus(live, c.rules) });
  }
  for (const l of p.live) {
    if (wanted.has(l.name)) continue;
    const builtin = isBuiltin(p.table, l.name);
    const extra = ownedRules(l, builtin);
    if (!builtin) out.push({ table: p.table, chain: l.name, reason: 'extra-chain', missing: [], extra });
    else if (extra.length > 0) out.push({ table: p.table, chain: l.name, reason: 'jumps-differ', missing: [], extra });
  }
  return out;
}

/**
 * What differs between the desired rules of a family and its live state: missing chains and rules, our rules
 * that should not be there, jumps out of order. Rules of others (outside our chains) are ignored.
 */
export function diff(ruleSet: RuleSet, family: Family, live: SaveState): Drift {
  const chains = tablePairs(familyRules(ruleSet, family), live).flatMap(tableDrift);
  return { family, inSync: chains.length === 0, chains };
}

// ---------------------------------------------------------------------------------------------------------------
// Plans

function chainRank(name: string, builtins: readonly string[]): number {
  const b = builtins.indexOf(name);
  if (b >= 0) return b;
  const o = CHAIN_ORDER.indexOf(name);
  return builtins.length + (o >= 0 ? o : CHAIN_ORDER.length);
}

function tablePlan(p: TablePair): string[] {
  const builtins = BUILTIN_CHAINS[p.table as Table] ?? [];
  const declare: string[] = [];
  const remove: string[] = [];
  const append: Array<{ chain: string; rules: readonly RuleSpec[] }> = [];
  const stale: string[] = [];
  for (const c of p.desired) {
    const liveChain = p.live.find((l) => l.name === c.name);
    const live = ownedRules(liveChain, c.builtin);
    if (sameSequence(c.rules, live)) continue;
    if (c.builtin) for (const r of live) remove.push(`-D ${c.name} ${ruleText(r)}`);
    else declare.push(`:${c.name} - [0:0]`);
    append.push({ chain: c.name, rules: c.rules });
  }
  for (const l of p.live) {
    if (p.desired.some((c) => c.name === l.name)) continue;
    if (!isBuiltin(p.table, l.name)) stale.push(l.name);
    else for (const r of ownedRules(l, true)) remove.push(`-D ${l.name} ${ruleText(r)}`);
  }
  if (declare.length + remove.length + append.length + stale.length === 0) return [];
  append.sort((a, b) => chainRank(a.chain, builtins) - chainRank(b.chain, builtins));
  return [
    `*${p.table}`,
    ...declare,
    ...remove,
    ...stale.map((c) => `-F ${c}`),
    ...append.flatMap((a) => a.rules.map((r) => `-A ${a.chain} ${ruleText(r)}`)),
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
  ];
}

function joinPlan(lines: string[]): string | undefined {
  return lines.length === 0 ? undefined : `${lines.join('\n')}\n`;
}

/**
 * The `iptables-restore --noflush` input that turns `live` into the desired rules of `family`, touching only
 * what differs; undefined when live is already in sync. Against an empty netns this is the full rule set.
 */
export function planApply(ruleSet: RuleSet, family: Family, live: SaveState): string | undefined {
  return joinPlan(tablePairs(familyRules(ruleSet, family), live).flatMap(tablePlan));
}

/** The restore input for a fresh netns: every chain declared, then every rule, table by table. */
export function renderRestore(ruleSet: RuleSet, family: Family): string {
  return planApply(ruleSet, family, EMPTY_STATE) ?? '';
}

/**
 * Removes everything we own from `live`: the jumps into our chains (exactly as iptables-save printed them, so
 * the deletes cannot miss), then our chains. Undefined when there is nothing of ours. Needs no config: ownership
 * is the ISTIO_ prefix that every rule set uses.
 */
export function planCleanup(live: SaveState): string | undefined {
  return joinPlan(tablePairs({ family: 'v4', tables: [] }, live).flatMap(tablePlan));
}

// ---------------------------------------------------------------------------------------------------------------
// Commands, by backend. The same names are used by the executor and printed by --dry-run.

export type Backend = 'legacy' | 'nft' | 'plain';

function binary(family: Family, backend: Backend, verb: 'save' | 'restore'): string {
  const base = family === 'v4' ? 'iptables' : 'ip6tables';
  return backend === 'plain' ? `${base}-${verb}` : `${base}-${backend}-${verb}`;
}

export interface Command {
  readonly cmd: string;
  readonly args: readonly string[];
}

/** `--wait`: the legacy backend's xtables lock is shared by every netns of the node; wait for it, do not fail. */
export function restoreCommand(family: Family, backend: Backend): Command {
  return { cmd: binary(family, backend, 'restore'), args: ['--noflush', '--wait'] };
}

export function saveCommand(family: Family, backend: Backend): Command {
  return { cmd: binary(family, backend, 'save'), args: [] };
}

export function ipBatchCommand(family: Family): Command {
  return { cmd: 'ip', args: [family === 'v4' ? '-4' : '-6', '-batch', '-'] };
}

export function commandLine(c: Command): string {
  return [c.cmd, ...c.args].join(' ');
}

// ---------------------------------------------------------------------------------------------------------------
// ip state

function ipFor(ruleSet: RuleSet, family: Family): IpCommand[] {
  return ruleSet.ipCommands.filter((c) => c.family === family);
}

/** The `ip -batch` input that reads the ip state a family's commands depend on; undefined if none. */
export function ipReadInput(ruleSet: RuleSet, family: Family): string | undefined {
  const lines = ipFor(ruleSet, family).map((c) =>
    c.kind === 'loopback-address' ? 'addr show dev lo' : c.kind === 'tproxy-rule' ? 'rule show' : `route show table ${c.table}`,
  );
  return joinPlan(lines);
}

/**
 * `ip -batch` input that establishes the family's ip state. `routing` is the live state read with
 * ipReadInput; without it (nothing to read) every command is written. Uses `replace` where ip has it, and adds
 * a policy rule only when missing, because `ip rule add` happily duplicates. Undefined when nothing is needed.
 */
export function planIp(ruleSet: RuleSet, family: Family, routing?: IpRoutingState): string | undefined {
  const lines: string[] = [];
  for (const c of ipFor(ruleSet, family)) {
    if (c.kind === 'loopback-address') {
      if (!(routing?.loopbackAddresses.includes(c.address) ?? false)) lines.push(`addr replace ${c.address} dev lo`);
    } else if (c.kind === 'tproxy-rule') {
      const present = routing?.fwmarkRules.some((r) => r.mark === c.mark && r.table === String(c.table)) ?? false;
      if (!present) lines.push(`rule add fwmark ${c.mark} lookup ${c.table}`);
    } else if (!(routing?.localDefaultRoute ?? false)) {
      lines.push(`route replace local default dev lo table ${c.table}`);
    }
  }
  return joinPlan(lines);
}

/** `ip -batch` input that removes the policy routing a rule set added (the ::6 address stays: harmless). */
export function planIpCleanup(ruleSet: RuleSet, family: Family, routing: IpRoutingState): string | undefined {
  const lines: string[] = [];
  for (const c of ipFor(ruleSet, family)) {
    if (c.kind === 'tproxy-rule') {
      for (const r of routing.fwmarkRules) {
        if (r.mark === c.mark && r.table === String(c.table)) lines.push(`rule del fwmark ${c.mark} lookup ${c.table}`);
      }
    } else if (c.kind === 'tproxy-route' && routing.localDefaultRoute) {
      lines.push(`route del local default dev lo table ${c.table}`);
    }
  }
  return joinPlan(lines);
}

/**
 * One program run in a pod's network namespace (by the CNI plugin, which applies what the agent decided): the
 * executable, its arguments and its stdin. `tool` is the exact executable: `iptables-restore`,
 * `ip6tables-restore` or a backend's variant (`iptables-legacy-restore`, `iptables-nft-restore`), the `-save`
 * variants to read, `ip` for the policy routing, and `nft` (`nft -f -`) for a native nftables program.
 */
export interface ProgramStep {
  readonly family: Family;
  /** The program to run; for a netlink step, NETLINK_TOOL (it names the step, nothing is run). */
  readonly tool: string;
  readonly args: readonly string[];
  readonly stdin?: string;
  /** An nf_tables netlink batch (base64) the plugin sends itself instead of running a program (nfnetlink.ts). */
  readonly netlink?: string;
}

/** The name of a netlink step in logs and errors: the restore it replaces, applied by the plugin over netlink. */
export const NETLINK_TOOL = 'nfnetlink';

/** What one step did; code -1 when it could not be started. */
export interface StepResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** encodeRestore's batches (base64) by family and input, the most recent 64: a node's pods mostly share rules. */
const batches = new Map<string, string | null>();

function encodedBatch(input: string, family: Family): string | undefined {
  const key = `${family}\n${input}`;
  let b = batches.get(key);
  if (b === undefined) {
    b = encodeRestore(input, family)?.bytes.toString('base64') ?? null;
    if (batches.size >= 64) batches.delete(batches.keys().next().value ?? '');
    batches.set(key, b);
  }
  return b ?? undefined;
}

/** The restore of a family's whole rule set into a fresh netns, as a program step. */
export function restoreStep(ruleSet: RuleSet, family: Family, backend: Backend): ProgramStep {
  const restore = restoreCommand(family, backend);
  return { family, tool: restore.cmd, args: restore.args, stdin: renderRestore(ruleSet, family) };
}

/**
 * The program that gives a fresh netns (no rules of ours yet) the rule set, without reading it first: per family
 * one restore of the whole rule set, then the ip batch if the rule set needs ip state. With `netlink` (a plugin
 * that can send nf_tables batches) and the iptables-nft backend, a restore the encoder covers becomes the batch
 * iptables-nft-restore would have sent for it: no process.
 */
export function freshProgram(ruleSet: RuleSet, backend: Backend, opts: { readonly netlink?: boolean } = {}): ProgramStep[] {
  const steps: ProgramStep[] = [];
  for (const f of ruleSet.families) {
    const restore = restoreStep(ruleSet, f.family, backend);
    const batch = opts.netlink === true && backend === 'nft' ? encodedBatch(restore.stdin ?? '', f.family) : undefined;
    steps.push(batch === undefined ? restore : { family: f.family, tool: NETLINK_TOOL, args: [], netlink: batch });
    const ip = planIp(ruleSet, f.family);
    if (ip !== undefined) {
      const ipBatch = ipBatchCommand(f.family);
      steps.push({ family: f.family, tool: ipBatch.cmd, args: ipBatch.args, stdin: ip });
    }
  }
  return steps;
}

/** The family a command acts on: ip6tables-* and `ip -6` are v6, everything else v4. */
export function commandFamily(cmd: string, args: readonly string[]): Family {
  return cmd.startsWith('ip6tables') || (cmd === 'ip' && args[0] === '-6') ? 'v6' : 'v4';
}

/**
 * Everything a fresh netns is given, as `--dry-run` prints it: per family the restore input, then the ip batch,
 * each under a `# command` line (a comment to iptables-restore).
 */
export function renderRuleSet(ruleSet: RuleSet, backend: Backend = 'plain'): string {
  const parts: string[] = [];
  for (const f of ruleSet.families) {
    parts.push(`# ${commandLine(restoreCommand(f.family, backend))}\n${renderRestore(ruleSet, f.family)}`);
    const ip = planIp(ruleSet, f.family);
    if (ip !== undefined) parts.push(`# ${commandLine(ipBatchCommand(f.family))}\n${ip}`);
  }
  return parts.join('');
}
