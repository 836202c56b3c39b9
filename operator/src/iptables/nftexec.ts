// Runs native nftables rule sets against a network namespace: one `nft list ruleset` (read), at most one
// `nft -f -` carrying the tables that differ (one transaction), then the same ip state as the iptables backend
// (IPv6 ::6 on lo, TPROXY policy routing). A first ADD costs 2 processes for IPv4 REDIRECT, a repeated one 1.
import type { Family } from './addr.js';
import type { RuleSet } from './builder.js';
import {
  type ApplyResult,
  type CleanupOptions,
  type CommandRunner,
  type ExecOptions,
  type IptablesExecutor,
  type LiveRules,
  IptablesCommandError,
  SpawnRunner,
  runCommand,
} from './executor.js';
import { type NftDrift, type NftRuleSet, type NftState, NFT_APPLY, NFT_LIST, buildNftRuleSet, nftDiff, parseNftList, planNftApply, planNftCleanup, renderNft } from './nft.js';
import { type SaveState, parseIpRouting } from './parse.js';
import { type Backend, type Command, type Drift, type ProgramStep, commandLine, ipBatchCommand, ipReadInput, planIp, planIpCleanup } from './restore.js';

export interface NftApplyResult {
  readonly changed: boolean;
  readonly spawns: number;
  /** Drift found before acting (for cleanup: against no tables). */
  readonly drift: NftDrift;
  /** The `nft -f` input that was applied, if any. */
  readonly nftInput?: string;
  /** The ip batches that were applied, per family. */
  readonly ipInputs: ReadonlyArray<{ readonly family: Family; readonly input: string }>;
}

export interface NftCleanupOptions extends ExecOptions {
  /** The rule set that was applied, to also remove its TPROXY policy routing. */
  readonly ruleSet?: Pick<NftRuleSet, 'ipCommands' | 'families'>;
}

export class NftExecutor {
  constructor(private readonly runner: CommandRunner = new SpawnRunner()) {}

  private exec(c: Command, opts: ExecOptions | undefined, input: string | undefined, count: { n: number }): Promise<string> {
    return runCommand(this.runner, c, opts, input, count);
  }

  private async listCounted(opts: ExecOptions | undefined, count: { n: number }): Promise<NftState> {
    const text = await this.exec(NFT_LIST, opts, undefined, count);
    try {
      return parseNftList(text);
    } catch (err) {
      throw new IptablesCommandError(commandLine(NFT_LIST), 0, (err as Error).message);
    }
  }

  /** Our tables as the kernel has them. */
  list(opts?: ExecOptions): Promise<NftState> {
    return this.listCounted(opts, { n: 0 });
  }

  async check(ruleSet: NftRuleSet, opts?: ExecOptions): Promise<NftDrift> {
    return nftDiff(ruleSet, await this.list(opts));
  }

  private async ip(ruleSet: Pick<NftRuleSet, 'ipCommands' | 'families'>, opts: ExecOptions | undefined, count: { n: number }, cleanup: boolean): Promise<Array<{ family: Family; input: string }>> {
    const asRules: RuleSet = { families: [], ipCommands: ruleSet.ipCommands };
    const out: Array<{ family: Family; input: string }> = [];
    for (const family of ruleSet.families) {
      const read = ipReadInput(asRules, family);
      const routing = read === undefined ? undefined : parseIpRouting(await this.exec(ipBatchCommand(family), opts, read, count));
      const write = cleanup ? (routing === undefined ? undefined : planIpCleanup(asRules, family, routing)) : planIp(asRules, family, routing);
      if (write !== undefined) {
        await this.exec(ipBatchCommand(family), opts, write, count);
        out.push({ family, input: write });
      }
    }
    return out;
  }

  /** Brings the netns's istio-proxy-* tables to the rule set. Idempotent: a second apply only reads. */
  async apply(ruleSet: NftRuleSet, opts?: ExecOptions): Promise<NftApplyResult> {
    const count = { n: 0 };
    const live = await this.listCounted(opts, count);
    const nftInput = planNftApply(ruleSet, live);
    if (nftInput !== undefined) await this.exec(NFT_APPLY, opts, nftInput, count);
    const ipInputs = await this.ip(ruleSet, opts, count, false);
    return { changed: nftInput !== undefined || ipInputs.length > 0, spawns: count.n, drift: nftDiff(ruleSet, live), ...(nftInput === undefined ? {} : { nftInput }), ipInputs };
  }

  /** Deletes our tables (and the rule set's policy routing, if given). */
  async cleanup(opts?: NftCleanupOptions): Promise<NftApplyResult> {
    const count = { n: 0 };
    const live = await this.listCounted(opts, count);
    const nftInput = planNftCleanup(live);
    if (nftInput !== undefined) await this.exec(NFT_APPLY, opts, nftInput, count);
    const ipInputs = opts?.ruleSet === undefined ? [] : await this.ip(opts.ruleSet, opts, count, true);
    return { changed: nftInput !== undefined || ipInputs.length > 0, spawns: count.n, drift: nftDiff({ tables: [] }, live), ...(nftInput === undefined ? {} : { nftInput }), ipInputs };
  }
}

/**
 * The native nftables backend behind the executor interface the agent uses: a rule set (built from a config) is
 * programmed as the nft tables of the same config. What the agent's ADD, CHECK, DEL and drift repair need, with
 * values.global.nativeNftables.
 */
export class NftBackedExecutor implements IptablesExecutor {
  readonly nft: NftExecutor;

  constructor(runner: CommandRunner = new SpawnRunner()) {
    this.nft = new NftExecutor(runner);
  }

  detectBackend(): Promise<Backend> {
    return Promise.resolve('nft');
  }

  private tables(ruleSet: RuleSet): NftRuleSet {
    if (ruleSet.config === undefined) throw new Error('bug: a rule set without its config cannot be programmed with native nftables');
    return buildNftRuleSet(ruleSet.config);
  }

  save(): Promise<SaveState> {
    return Promise.reject(new Error('bug: the native nftables backend has no iptables-save state'));
  }

  async inspect(ruleSet: RuleSet, opts?: ExecOptions): Promise<LiveRules> {
    const live = await this.nft.list(opts);
    return { inSync: nftDiff(this.tables(ruleSet), live).inSync, hasOurs: live.tables.length > 0, spawns: 1 };
  }

  async check(ruleSet: RuleSet, opts?: ExecOptions): Promise<Drift[]> {
    const d = await this.nft.check(this.tables(ruleSet), opts);
    return [{ family: 'v4', inSync: d.inSync, chains: d.chains.map((c) => ({ table: c.table, chain: c.chain, reason: c.reason === 'rules-differ' ? 'rules-differ' : c.reason === 'extra-table' || c.reason === 'extra-chain' ? 'extra-chain' : 'missing-chain', missing: c.missing.map((r) => [r]), extra: c.extra.map((r) => [r]) })) }];
  }

  private result(r: NftApplyResult, families: readonly Family[]): ApplyResult {
    return { changed: r.changed, spawns: r.spawns, families: families.map((family) => ({ family, drift: { family, inSync: r.drift.inSync, chains: [] } })) };
  }

  async apply(ruleSet: RuleSet, opts?: ExecOptions): Promise<ApplyResult> {
    const tables = this.tables(ruleSet);
    return this.result(await this.nft.apply(tables, opts), tables.families);
  }

  async cleanup(opts?: CleanupOptions): Promise<ApplyResult> {
    const tables = opts?.ruleSet?.config === undefined ? undefined : buildNftRuleSet(opts.ruleSet.config);
    return this.result(await this.nft.cleanup({ ...(opts?.netnsPath === undefined ? {} : { netnsPath: opts.netnsPath }), ...(tables === undefined ? {} : { ruleSet: tables }) }), tables?.families ?? ['v4']);
  }
}

/** The program that gives a fresh netns a rule set's nft tables without reading it first: one `nft -f`, then ip. */
export function freshNftProgram(ruleSet: RuleSet): ProgramStep[] {
  if (ruleSet.config === undefined) throw new Error('bug: a rule set without its config cannot be programmed with native nftables');
  const tables = buildNftRuleSet(ruleSet.config);
  const steps: ProgramStep[] = [{ family: 'v4', tool: NFT_APPLY.cmd, args: NFT_APPLY.args, stdin: renderNft(tables) }];
  for (const family of tables.families) {
    const ip = planIp({ families: [], ipCommands: tables.ipCommands }, family);
    if (ip !== undefined) {
      const batch = ipBatchCommand(family);
      steps.push({ family, tool: batch.cmd, args: batch.args, stdin: ip });
    }
  }
  return steps;
}
