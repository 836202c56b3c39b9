// An in-memory model of what `iptables-restore --noflush` and `ip -batch` do to a netns, strict where the kernel
// is strict (`-D` of a missing rule, `-X` of a referenced or non-empty chain, a jump to a missing chain). The
// recording executor runs on it, so tests assert on the resulting state. Pure.
import { BUILTIN_CHAINS, type RuleSpec, type Table, targetOf } from './builder.js';
import { type SaveState, type SavedChain, tokenize, ruleText } from './parse.js';

export class RestoreError extends Error {
  override name = 'RestoreError';
  constructor(
    readonly lineNumber: number,
    detail: string,
  ) {
    super(`line ${lineNumber}: ${detail}`);
  }
}

/** Targets provided by extensions rather than chains. */
const EXTENSION_TARGETS = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'REDIRECT', 'TPROXY', 'MARK', 'CONNMARK', 'CT', 'DNAT', 'SNAT', 'MASQUERADE', 'LOG', 'NOTRACK', 'TRACE',
]);

interface Chain {
  policy: string;
  rules: RuleSpec[];
}

type TableModel = Map<string, Chain>;

function tableFrom(state: SaveState, name: string): TableModel {
  const model: TableModel = new Map();
  for (const b of BUILTIN_CHAINS[name as Table] ?? []) model.set(b, { policy: 'ACCEPT', rules: [] });
  const saved = state.tables.find((t) => t.name === name);
  for (const c of saved?.chains ?? []) model.set(c.name, { policy: c.policy, rules: [...c.rules] });
  return model;
}

function referenced(model: TableModel, chain: string): boolean {
  for (const c of model.values()) if (c.rules.some((r) => targetOf(r) === chain || goto(r) === chain)) return true;
  return false;
}

function goto(spec: RuleSpec): string | undefined {
  const i = spec.indexOf('-g');
  return i >= 0 ? spec[i + 1] : undefined;
}

function chainOf(model: TableModel, name: string | undefined, n: number): Chain {
  const c = name === undefined ? undefined : model.get(name);
  if (c === undefined) throw new RestoreError(n, `chain ${name ?? '(none)'} does not exist`);
  return c;
}

function checkTarget(model: TableModel, spec: RuleSpec, n: number): void {
  for (const t of [targetOf(spec), goto(spec)]) {
    if (t === undefined || model.has(t) || EXTENSION_TARGETS.has(t)) continue;
    throw new RestoreError(n, `target ${t} is neither a chain nor an extension`);
  }
}

function declare(model: TableModel, line: string, n: number): void {
  const [name, policy] = line.slice(1).split(/\s+/);
  if (name === undefined || name === '' || policy === undefined) throw new RestoreError(n, `bad chain line "${line}"`);
  const existing = model.get(name);
  if (existing !== undefined && existing.policy !== '-') {
    if (policy !== '-') existing.policy = policy;
    return;
  }
  // --noflush: declaring an existing user chain flushes it.
  model.set(name, { policy: '-', rules: [] });
}

type Op = (model: TableModel, chainName: string | undefined, rest: string[], n: number) => void;

const OPS: Readonly<Record<string, Op>> = {
  '-A': (model, chainName, rest, n) => {
    checkTarget(model, rest, n);
    chainOf(model, chainName, n).rules.push(rest);
  },
  '-I': (model, chainName, rest, n) => {
    const chain = chainOf(model, chainName, n);
    const pos = /^\d+$/.test(rest[0] ?? '') ? Number(rest.shift()) : 1;
    if (pos < 1 || pos > chain.rules.length + 1) throw new RestoreError(n, `index ${pos} out of range`);
    checkTarget(model, rest, n);
    chain.rules.splice(pos - 1, 0, rest);
  },
  '-D': (model, chainName, rest, n) => {
    const chain = chainOf(model, chainName, n);
    const i = chain.rules.findIndex((r) => ruleText(r) === ruleText(rest));
    if (i < 0) throw new RestoreError(n, `no rule "${ruleText(rest)}" in ${chainName ?? ''} to delete`);
    chain.rules.splice(i, 1);
  },
  '-N': (model, chainName, _rest, n) => {
    if (chainName === undefined || model.has(chainName)) throw new RestoreError(n, `chain ${chainName ?? ''} already exists`);
    model.set(chainName, { policy: '-', rules: [] });
  },
  '-F': (model, chainName, _rest, n) => {
    if (chainName === undefined) for (const c of model.values()) c.rules = [];
    else chainOf(model, chainName, n).rules = [];
  },
  '-X': (model, chainName, _rest, n) => {
    const chain = chainOf(model, chainName, n);
    const name = chainName ?? '';
    if (chain.policy !== '-') throw new RestoreError(n, `cannot delete built-in chain ${name}`);
    if (chain.rules.length > 0) throw new RestoreError(n, `chain ${name} is not empty`);
    if (referenced(model, name)) throw new RestoreError(n, `chain ${name} is still referenced`);
    model.delete(name);
  },
};

function command(model: TableModel, tokens: string[], n: number): void {
  const [op = '', chainName, ...rest] = tokens;
  const fn = OPS[op];
  if (fn === undefined) throw new RestoreError(n, `unsupported command "${tokens.join(' ')}"`);
  fn(model, chainName, rest, n);
}

function toSaved(name: string, model: TableModel, builtins: readonly string[]): { name: string; chains: SavedChain[] } {
  const chains = [...model.entries()].map(([c, v]) => ({ name: c, policy: v.policy, rules: v.rules }));
  // iptables-save lists built-in chains first, then user chains by name.
  chains.sort((a, b) => {
    const ab = builtins.indexOf(a.name);
    const bb = builtins.indexOf(b.name);
    if (ab >= 0 || bb >= 0) return (ab < 0 ? 99 : ab) - (bb < 0 ? 99 : bb);
    return a.name < b.name ? -1 : 1;
  });
  return { name, chains };
}

/** Applies `iptables-restore --noflush` input to a snapshot; throws RestoreError and changes nothing on error. */
export function applyRestore(state: SaveState, input: string): SaveState {
  const tables = new Map(state.tables.map((t) => [t.name, t]));
  let current: { name: string; model: TableModel } | undefined;
  input.split('\n').forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('*')) {
      if (current !== undefined) throw new RestoreError(n, `table ${line} before COMMIT`);
      const name = line.slice(1);
      if (BUILTIN_CHAINS[name as Table] === undefined) throw new RestoreError(n, `unknown table ${name}`);
      current = { name, model: tableFrom({ tables: [...tables.values()] }, name) };
      return;
    }
    if (current === undefined) throw new RestoreError(n, `"${line}" outside a table`);
    if (line === 'COMMIT') {
      tables.set(current.name, toSaved(current.name, current.model, BUILTIN_CHAINS[current.name as Table]));
      current = undefined;
    } else if (line.startsWith(':')) {
      declare(current.model, line, n);
    } else {
      command(current.model, tokenize(line), n);
    }
  });
  if (current !== undefined) throw new RestoreError(input.split('\n').length, `table ${current.name} has no COMMIT`);
  return { tables: [...tables.values()] };
}

// ---------------------------------------------------------------------------------------------------------------
// ip

export interface IpModel {
  readonly rules: ReadonlyArray<{ readonly mark: number; readonly table: string }>;
  /** Tables holding `local default dev lo`. */
  readonly localDefaultTables: readonly string[];
  readonly loopbackAddresses: readonly string[];
}

export const EMPTY_IP: IpModel = { rules: [], localDefaultTables: [], loopbackAddresses: [] };

export interface IpBatchResult {
  readonly model: IpModel;
  readonly stdout: string;
  readonly error?: string;
}

function ipLine(m: IpModel, line: string): { model: IpModel; out?: string } {
  let r: RegExpExecArray | null;
  if (line === 'rule show') {
    const rules = m.rules.map((x, i) => `${32765 - m.rules.length + 1 + i}:\tfrom all fwmark 0x${x.mark.toString(16)} lookup ${x.table}`);
    return { model: m, out: ['0:\tfrom all lookup local', ...rules, '32766:\tfrom all lookup main', ''].join('\n') };
  }
  if (line === 'addr show dev lo') {
    const addrs = m.loopbackAddresses.map((a) => `    inet6 ${a} scope global \n       valid_lft forever preferred_lft forever\n`);
    return { model: m, out: `1: lo: <LOOPBACK> mtu 65536 qdisc noop state DOWN group default qlen 1000\n${addrs.join('')}` };
  }
  if ((r = /^route show table (\S+)$/.exec(line)) !== null) {
    return { model: m, out: m.localDefaultTables.includes(r[1] as string) ? 'local default dev lo scope host\n' : '' };
  }
  if ((r = /^rule add fwmark (\d+) lookup (\S+)$/.exec(line)) !== null) {
    return { model: { ...m, rules: [...m.rules, { mark: Number(r[1]), table: r[2] as string }] } };
  }
  if ((r = /^rule del fwmark (\d+) lookup (\S+)$/.exec(line)) !== null) {
    const i = m.rules.findIndex((x) => x.mark === Number(r?.[1]) && x.table === r?.[2]);
    if (i < 0) throw new Error('RTNETLINK answers: No such file or directory');
    return { model: { ...m, rules: m.rules.filter((_, j) => j !== i) } };
  }
  if ((r = /^route replace local default dev lo table (\S+)$/.exec(line)) !== null) {
    const t = r[1] as string;
    return { model: { ...m, localDefaultTables: m.localDefaultTables.includes(t) ? m.localDefaultTables : [...m.localDefaultTables, t] } };
  }
  if ((r = /^route del local default dev lo table (\S+)$/.exec(line)) !== null) {
    if (!m.localDefaultTables.includes(r[1] as string)) throw new Error('RTNETLINK answers: No such process');
    return { model: { ...m, localDefaultTables: m.localDefaultTables.filter((t) => t !== r?.[1]) } };
  }
  if ((r = /^addr replace (\S+) dev lo$/.exec(line)) !== null) {
    const a = r[1] as string;
    return { model: { ...m, loopbackAddresses: m.loopbackAddresses.includes(a) ? m.loopbackAddresses : [...m.loopbackAddresses, a] } };
  }
  throw new Error(`unsupported ip command "${line}"`);
}

/** Runs `ip -batch -` input against a model; stops at the first failing command, like ip without -force. */
export function applyIpBatch(model: IpModel, input: string): IpBatchResult {
  let m = model;
  let stdout = '';
  for (const raw of input.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    try {
      const res = ipLine(m, line);
      m = res.model;
      stdout += res.out ?? '';
    } catch (err) {
      return { model: m, stdout, error: `${(err as Error).message}\nCommand failed -:1` };
    }
  }
  return { model: m, stdout };
}
