// iptables-save output ↔ a typed snapshot, and the bits of `ip rule show` / `ip route show` we need. Pure.
import type { RuleSpec } from './builder.js';

export interface SavedChain {
  readonly name: string;
  /** `ACCEPT`/`DROP` for built-in chains, `-` for user chains. */
  readonly policy: string;
  readonly rules: readonly RuleSpec[];
}

export interface SavedTable {
  readonly name: string;
  readonly chains: readonly SavedChain[];
}

/** One family's live tables, as iptables-save printed them. */
export interface SaveState {
  readonly tables: readonly SavedTable[];
}

export const EMPTY_STATE: SaveState = { tables: [] };

export class SaveParseError extends Error {
  override name = 'SaveParseError';
  constructor(
    readonly lineNumber: number,
    detail: string,
  ) {
    super(`iptables-save output, line ${lineNumber}: ${detail}`);
  }
}

/** Splits a rule line into tokens, honouring double quotes and backslash escapes (comments, log prefixes). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) cur += line[++i] as string;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inToken = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (quoted) throw new Error('unterminated quote');
  if (inToken) out.push(cur);
  return out;
}

/** The inverse of tokenize: quotes tokens that need it, the way iptables-save does. */
export function quoteToken(token: string): string {
  if (token !== '' && !/[\s"\\]/.test(token)) return token;
  return `"${token.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export function ruleText(spec: RuleSpec): string {
  return spec.map(quoteToken).join(' ');
}

interface MutableTable {
  name: string;
  chains: Array<{ name: string; policy: string; rules: RuleSpec[] }>;
}

function parseLine(line: string, n: number, current: MutableTable | undefined, tables: MutableTable[]): MutableTable | undefined {
  if (line.startsWith('*')) {
    if (current !== undefined) throw new SaveParseError(n, `table ${line.slice(1)} starts before COMMIT of ${current.name}`);
    const table = { name: line.slice(1).trim(), chains: [] };
    tables.push(table);
    return table;
  }
  if (current === undefined) throw new SaveParseError(n, `"${line}" outside a table`);
  if (line === 'COMMIT') return undefined;
  if (line.startsWith(':')) {
    const [name, policy] = line.slice(1).split(/\s+/);
    if (name === undefined || name === '' || policy === undefined) throw new SaveParseError(n, `bad chain line "${line}"`);
    current.chains.push({ name, policy, rules: [] });
    return current;
  }
  // An optional "[packets:bytes]" prefix (iptables-save -c).
  const body = line.replace(/^\[\d+:\d+\]\s+/, '');
  let tokens: string[];
  try {
    tokens = tokenize(body);
  } catch (err) {
    throw new SaveParseError(n, (err as Error).message);
  }
  if (tokens[0] !== '-A' || tokens.length < 2) throw new SaveParseError(n, `unexpected line "${line}"`);
  const chain = current.chains.find((c) => c.name === tokens[1]);
  if (chain === undefined) throw new SaveParseError(n, `rule for undeclared chain ${tokens[1]}`);
  chain.rules.push(tokens.slice(2));
  return current;
}

/** Parses iptables-save (or ip6tables-save) output. Comments and blank lines are skipped. */
export function parseSave(text: string): SaveState {
  const tables: MutableTable[] = [];
  let current: MutableTable | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    current = parseLine(line, i + 1, current, tables);
  }
  if (current !== undefined) throw new SaveParseError(lines.length, `table ${current.name} has no COMMIT`);
  return { tables };
}

/** Renders a snapshot in iptables-save's format (without the comment lines and counters). */
export function renderSave(state: SaveState): string {
  const out: string[] = [];
  for (const t of state.tables) {
    out.push(`*${t.name}`);
    for (const c of t.chains) out.push(`:${c.name} ${c.policy} [0:0]`);
    for (const c of t.chains) for (const r of c.rules) out.push(`-A ${c.name} ${ruleText(r)}`);
    out.push('COMMIT');
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

export function findChain(state: SaveState, table: string, chain: string): SavedChain | undefined {
  return state.tables.find((t) => t.name === table)?.chains.find((c) => c.name === chain);
}

/** Number of rules in a snapshot (used to choose the legacy or nft backend). */
export function countSavedRules(state: SaveState): number {
  return state.tables.reduce((n, t) => n + t.chains.reduce((m, c) => m + c.rules.length, 0), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// `ip -4|-6 -batch -` with "addr show dev lo", "rule show" and "route show table N" lines: the state that the
// IPv6 passthrough address and TPROXY's policy routing need.

export interface IpRoutingState {
  /** Rules `fwmark M lookup T`, one entry per rule (duplicates kept: `ip rule add` does not refuse them). */
  readonly fwmarkRules: ReadonlyArray<{ readonly mark: number; readonly table: string }>;
  /** Whether `local default dev lo` exists in the tables that were shown. */
  readonly localDefaultRoute: boolean;
  /** Addresses (`addr/prefix`) on lo, from `addr show dev lo`. */
  readonly loopbackAddresses: readonly string[];
}

const RULE_LINE = /^\d+:\s+from all fwmark (0x[0-9a-f]+|\d+)(?:\/0x[0-9a-f]+)?\s+lookup\s+(\S+)/;

export function parseIpRouting(text: string): IpRoutingState {
  const fwmarkRules: Array<{ mark: number; table: string }> = [];
  const loopbackAddresses: string[] = [];
  let localDefaultRoute = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = RULE_LINE.exec(line);
    const addr = /^inet6? (\S+)/.exec(line);
    if (m !== null) fwmarkRules.push({ mark: Number(m[1]), table: m[2] as string });
    else if (addr !== null) loopbackAddresses.push(addr[1] as string);
    else if (/^local (default|::\/0|0\.0\.0\.0\/0) dev lo\b/.test(line)) localDefaultRoute = true;
  }
  return { fwmarkRules, localDefaultRoute, loopbackAddresses };
}
