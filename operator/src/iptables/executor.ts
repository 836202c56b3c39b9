// Runs rule sets against a network namespace. The one file of operator/src/iptables that may spawn processes.
//
// Per family, an apply is: one iptables-save (read live state), then at most one `iptables-restore --noflush`
// carrying only what differs (none when in sync), then, only if the rule set needs ip state (IPv6's ::6 on lo,
// TPROXY's policy routing), one `ip -batch` read and at most one `ip -batch` write. So a first ADD costs 2
// processes for IPv4 REDIRECT, 6 dual-stack, 4 IPv4 TPROXY, 8 dual-stack TPROXY; a repeated one 1, 3, 2, 4. With a netns path every command runs
// as `nsenter --net=<path> -- <command>`: nsenter execs the command, so that is still one process each.
// The backend (legacy or nft) is detected once per executor (the agent keeps one per node) and cached.
import { spawn } from 'node:child_process';
import type { Family } from './addr.js';
import type { RuleSet } from './builder.js';
import { type SaveState, parseIpRouting, parseSave, renderSave, EMPTY_STATE } from './parse.js';
import {
  type Backend,
  type Command,
  type Drift,
  commandLine,
  diff,
  ipBatchCommand,
  ipReadInput,
  planApply,
  planCleanup,
  planIp,
  planIpCleanup,
  restoreCommand,
  saveCommand,
} from './restore.js';
import { type IpModel, EMPTY_IP, applyIpBatch, applyRestore } from './simulate.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one process. Rejects only when the process could not be started (e.g. ENOENT). */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

/** A command failed; `stderr` holds its first line. Classify by this type, not by message text. */
export class IptablesCommandError extends Error {
  override name = 'IptablesCommandError';
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${code}): ${stderr.split('\n').find((l) => l.trim() !== '') ?? 'no output'}`);
  }
}

export interface ExecOptions {
  /** Network namespace to act in, e.g. /var/run/netns/cni-1234 or /proc/<pid>/ns/net; default: our own. */
  readonly netnsPath?: string;
}

export interface CleanupOptions extends ExecOptions {
  /** The rule set that was applied, to also remove its TPROXY policy routing; iptables cleanup needs none. */
  readonly ruleSet?: RuleSet;
  /** Families to clean; default: the rule set's, else both. */
  readonly families?: readonly Family[];
}

export interface FamilyOutcome {
  readonly family: Family;
  /** Drift found before acting (for cleanup: against the empty rule set). */
  readonly drift: Drift;
  /** The restore input that was applied, if any. */
  readonly restoreInput?: string;
  /** The ip batch that was applied, if any. */
  readonly ipInput?: string;
}

export interface ApplyResult {
  /** Whether anything was written. */
  readonly changed: boolean;
  /** Processes spawned by this call (backend detection excluded: once per executor). */
  readonly spawns: number;
  readonly families: readonly FamilyOutcome[];
}

/** What an inspection of a netns found. */
export interface LiveRules {
  readonly inSync: boolean;
  /** Anything of ours exists (someone programmed this netns before). */
  readonly hasOurs: boolean;
  readonly spawns: number;
}

export interface IptablesExecutor {
  detectBackend(): Promise<Backend>;
  /** Compares the netns with the rule set in one read per family; without it, callers use save and diff. */
  inspect?(ruleSet: RuleSet, opts?: ExecOptions): Promise<LiveRules>;
  save(family: Family, opts?: ExecOptions): Promise<SaveState>;
  check(ruleSet: RuleSet, opts?: ExecOptions): Promise<Drift[]>;
  apply(ruleSet: RuleSet, opts?: ExecOptions): Promise<ApplyResult>;
  cleanup(opts?: CleanupOptions): Promise<ApplyResult>;
}

const EMPTY_RULES: RuleSet = { families: [], ipCommands: [] };

/**
 * Picks the backend like Kubernetes' iptables-wrapper and Istio: whichever of iptables-legacy-save and
 * iptables-nft-save shows more rules in the node's own netns; nft on a tie; plain `iptables-*` when neither
 * variant exists.
 */
export async function detectBackend(runner: CommandRunner): Promise<Backend> {
  const count = async (backend: Backend): Promise<number | undefined> => {
    try {
      const res = await runner.run(saveCommand('v4', backend).cmd, []);
      if (res.code !== 0) return undefined;
      return res.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
    } catch {
      return undefined;
    }
  };
  const legacy = await count('legacy');
  const nft = await count('nft');
  if (legacy === undefined && nft === undefined) return 'plain';
  if (nft === undefined) return 'legacy';
  if (legacy === undefined) return 'nft';
  return legacy > nft ? 'legacy' : 'nft';
}

/** The executor, over any runner: real processes (SystemExecutor) or a simulated netns (DryRunExecutor). */
/**
 * Runs one command (inside opts.netnsPath through nsenter when given), counts it, and returns its stdout; a
 * failure to start or a non-zero exit is an IptablesCommandError naming the command. Shared by the iptables
 * and the native nftables executors.
 */
export async function runCommand(runner: CommandRunner, c: Command, opts: ExecOptions | undefined, input: string | undefined, count: { n: number }): Promise<string> {
  const [cmd, args] = opts?.netnsPath === undefined ? [c.cmd, c.args] : ['nsenter', [`--net=${opts.netnsPath}`, '--', c.cmd, ...c.args]];
  count.n++;
  let res: CommandResult;
  try {
    res = await runner.run(cmd, args, input);
  } catch (err) {
    throw new IptablesCommandError(commandLine(c), -1, (err as Error).message);
  }
  if (res.code !== 0) throw new IptablesCommandError(commandLine(c), res.code, res.stderr);
  return res.stdout;
}

export class Executor implements IptablesExecutor {
  private backendPromise: Promise<Backend> | undefined;

  constructor(
    protected readonly runner: CommandRunner,
    backend?: Backend,
  ) {
    if (backend !== undefined) this.backendPromise = Promise.resolve(backend);
  }

  detectBackend(): Promise<Backend> {
    this.backendPromise ??= detectBackend(this.runner);
    return this.backendPromise;
  }

  private exec(c: Command, opts: ExecOptions | undefined, input: string | undefined, count: { n: number }): Promise<string> {
    return runCommand(this.runner, c, opts, input, count);
  }

  private async saveCounted(family: Family, opts: ExecOptions | undefined, count: { n: number }): Promise<SaveState> {
    return parseSave(await this.exec(saveCommand(family, await this.detectBackend()), opts, undefined, count));
  }

  async save(family: Family, opts?: ExecOptions): Promise<SaveState> {
    return this.saveCounted(family, opts, { n: 0 });
  }

  async check(ruleSet: RuleSet, opts?: ExecOptions): Promise<Drift[]> {
    const out: Drift[] = [];
    for (const f of ruleSet.families) out.push(diff(ruleSet, f.family, await this.save(f.family, opts)));
    return out;
  }

  private async applyIp(ruleSet: RuleSet, family: Family, opts: ExecOptions | undefined, count: { n: number }, cleanup: boolean): Promise<string | undefined> {
    const read = ipReadInput(ruleSet, family);
    const routing = read === undefined ? undefined : parseIpRouting(await this.exec(ipBatchCommand(family), opts, read, count));
    const write = cleanup ? (routing === undefined ? undefined : planIpCleanup(ruleSet, family, routing)) : planIp(ruleSet, family, routing);
    if (write !== undefined) await this.exec(ipBatchCommand(family), opts, write, count);
    return write;
  }

  private async converge(desired: RuleSet, families: readonly Family[], opts: ExecOptions | undefined, cleanup: boolean): Promise<ApplyResult> {
    const backend = await this.detectBackend();
    const count = { n: 0 };
    const outcomes: FamilyOutcome[] = [];
    for (const family of families) {
      const live = await this.saveCounted(family, opts, count);
      const restoreInput = cleanup ? planCleanup(live) : planApply(desired, family, live);
      if (restoreInput !== undefined) await this.exec(restoreCommand(family, backend), opts, restoreInput, count);
      const ipInput = await this.applyIp(desired, family, opts, count, cleanup);
      outcomes.push({ family, drift: diff(cleanup ? EMPTY_RULES : desired, family, live), restoreInput, ipInput });
    }
    const changed = outcomes.some((o) => o.restoreInput !== undefined || o.ipInput !== undefined);
    return { changed, spawns: count.n, families: outcomes };
  }

  /** Brings the netns to the rule set. Idempotent: a second apply only reads. */
  apply(ruleSet: RuleSet, opts?: ExecOptions): Promise<ApplyResult> {
    return this.converge(ruleSet, ruleSet.families.map((f) => f.family), opts, false);
  }

  /** Removes every ISTIO_* chain and every jump into one (and the rule set's policy routing, if given). */
  cleanup(opts?: CleanupOptions): Promise<ApplyResult> {
    const families = opts?.families ?? opts?.ruleSet?.families.map((f) => f.family) ?? ['v4', 'v6'];
    return this.converge(opts?.ruleSet ?? EMPTY_RULES, families, opts, true);
  }
}

/** Spawns real processes; stdin carries restore and batch input, never a temporary file. */
export class SpawnRunner implements CommandRunner {
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
  }
}

export class SystemExecutor extends Executor {
  constructor(options: { backend?: Backend; runner?: CommandRunner } = {}) {
    super(options.runner ?? new SpawnRunner(), options.backend);
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface RecordedCommand {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly input?: string;
  /** The netns it ran in ('' = our own). */
  readonly netns: string;
}

interface SimNetns {
  v4: SaveState;
  v6: SaveState;
  ipv4: IpModel;
  ipv6: IpModel;
}

const FAMILY_OF: Record<string, Family> = { iptables: 'v4', ip6tables: 'v6' };

/**
 * Records every command and simulates its effect on in-memory network namespaces (see simulate.ts), so that
 * tests and --dry-run go through exactly the code path of a real apply without touching anything.
 */
export class SimulatedRunner implements CommandRunner {
  readonly records: RecordedCommand[] = [];
  private readonly netns = new Map<string, SimNetns>();

  /** The simulated state of a netns ('' = our own). */
  state(netns = ''): SimNetns {
    let s = this.netns.get(netns);
    if (s === undefined) {
      s = { v4: EMPTY_STATE, v6: EMPTY_STATE, ipv4: EMPTY_IP, ipv6: EMPTY_IP };
      this.netns.set(netns, s);
    }
    return s;
  }

  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    let netns = '';
    let argv = [cmd, ...args];
    if (cmd === 'nsenter') {
      netns = (args[0] ?? '').replace(/^--net=/, '');
      argv = args.slice(args[1] === '--' ? 2 : 1);
    }
    this.records.push({ cmd, args, netns, ...(input === undefined ? {} : { input }) });
    return Promise.resolve(this.simulate(this.state(netns), argv, input ?? ''));
  }

  private simulate(s: SimNetns, argv: readonly string[], input: string): CommandResult {
    const [program = '', ...rest] = argv;
    const m = /^(ip6?tables)(?:-(?:legacy|nft))?-(save|restore)$/.exec(program);
    if (m !== null) {
      const family = FAMILY_OF[m[1] as string] as Family;
      if (m[2] === 'save') return { code: 0, stdout: renderSave(s[family]), stderr: '' };
      if (!rest.includes('--noflush')) return { code: 2, stdout: '', stderr: 'simulation: restore without --noflush would flush whole tables\n' };
      try {
        s[family] = applyRestore(s[family], input);
        return { code: 0, stdout: '', stderr: '' };
      } catch (err) {
        return { code: 1, stdout: '', stderr: `${(err as Error).message}\n` };
      }
    }
    if (program === 'ip' && rest[1] === '-batch') {
      const key = rest[0] === '-6' ? 'ipv6' : 'ipv4';
      const res = applyIpBatch(s[key], input);
      s[key] = res.model;
      return res.error === undefined ? { code: 0, stdout: res.stdout, stderr: '' } : { code: 1, stdout: res.stdout, stderr: res.error };
    }
    return { code: 127, stdout: '', stderr: `simulation: ${program}: command not found\n` };
  }
}

/** An `ip -batch` input that only shows state. */
function isReadBatch(input: string): boolean {
  const lines = input.split('\n').filter((l) => l.trim() !== '');
  return lines.length > 0 && lines.every((l) => /^\S+ show\b/.test(l));
}

/** An executor on a SimulatedRunner: records commands and inputs, touches nothing (tests and --dry-run). */
export class DryRunExecutor extends Executor {
  readonly sim: SimulatedRunner;

  constructor(options: { backend?: Backend } = {}) {
    const sim = new SimulatedRunner();
    super(sim, options.backend ?? 'plain');
    this.sim = sim;
  }

  get records(): readonly RecordedCommand[] {
    return this.sim.records;
  }

  /** The commands that wrote something, each under a `# command line` header, as --dry-run prints them. */
  renderWrites(): string {
    return this.records
      .filter((r) => r.input !== undefined && !isReadBatch(r.input))
      .map((r) => `# ${[r.cmd, ...r.args].join(' ')}\n${r.input ?? ''}`)
      .join('');
  }
}
