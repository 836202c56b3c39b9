// Runs native nftables rule sets against a network namespace: one `nft list ruleset` (read), at most one
// `nft -f -` carrying the tables that differ (one transaction), then the same ip state as the iptables backend
// (IPv6 ::6 on lo, TPROXY policy routing). A first ADD costs 2 processes for IPv4 REDIRECT, a repeated one 1.
import type { Family } from './addr.js';
import type { RuleSet } from './builder.js';
import { type CommandResult, type CommandRunner, IptablesCommandError, type ExecOptions, SpawnRunner } from './executor.js';
import { type NftDrift, type NftRuleSet, type NftState, NFT_APPLY, NFT_LIST, nftDiff, parseNftList, planNftApply, planNftCleanup } from './nft.js';
import { parseIpRouting } from './parse.js';
import { type Command, commandLine, ipBatchCommand, ipReadInput, planIp, planIpCleanup } from './restore.js';

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

  private async exec(c: Command, opts: ExecOptions | undefined, input: string | undefined, count: { n: number }): Promise<string> {
    const [cmd, args] = opts?.netnsPath === undefined ? [c.cmd, c.args] : ['nsenter', [`--net=${opts.netnsPath}`, '--', c.cmd, ...c.args]];
    count.n++;
    let res: CommandResult;
    try {
      res = await this.runner.run(cmd, args, input);
    } catch (err) {
      throw new IptablesCommandError(commandLine(c), -1, (err as Error).message);
    }
    if (res.code !== 0) throw new IptablesCommandError(commandLine(c), res.code, res.stderr);
    return res.stdout;
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
