// Native nftables on the real kernel: every golden case's nft rule set applied with `nft -f` into a throwaway
// network namespace, read back with `nft list ruleset` exactly as written (counter values aside), applied again
// without writing, and removed. Opt-in like the iptables kernel tests (MIZZEN_NETNS_TESTS=1, root, nft).
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { type HostFiles, type NftRuleSet, NftExecutor, buildNftRuleSet, parseArgs, parseNftList, resolveConfig } from '../../src/iptables/index.js';
import { CASES } from './cases.js';

const enabled = process.env.MIZZEN_NETNS_TESTS === '1';
const NETNS = `mz-nft-test-${process.pid}`;
const PATH = `/run/netns/${NETNS}`;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

const nftRuleSetOf = (argv: readonly string[], env: Record<string, string> = {}, host: HostFiles = {}): NftRuleSet => buildNftRuleSet(resolveConfig(parseArgs(argv).flags, env, host));

(enabled ? describe : describe.skip)('native nftables on the real kernel (MIZZEN_NETNS_TESTS=1)', function () {
  this.timeout(30_000);
  const executor = new NftExecutor();
  const opts = { netnsPath: PATH };

  before(() => {
    sh('ip', ['netns', 'add', NETNS]);
    sh('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
  });
  after(() => {
    sh('ip', ['netns', 'del', NETNS]);
  });
  afterEach(async () => {
    await executor.cleanup(opts);
  });

  for (const c of CASES) {
    it(`accepts, reads back identically and cleans up: ${c.name}`, async () => {
      const ruleSet = nftRuleSetOf(c.argv, c.env, c.host);
      const first = await executor.apply(ruleSet, opts);
      expect(first.changed).to.equal(true);
      const live = parseNftList(sh('nsenter', [`--net=${PATH}`, '--', 'nft', 'list', 'ruleset']));
      expect(live.tables).to.deep.equal(ruleSet.tables);
      expect((await executor.check(ruleSet, opts)).inSync).to.equal(true);
      const again = await executor.apply(ruleSet, opts);
      expect([again.changed, again.nftInput, again.spawns]).to.deep.equal([false, undefined, 1 + (again.spawns - 1)]);
      const clean = await executor.cleanup({ ...opts, ruleSet });
      expect(clean.changed).to.equal(true);
      expect(parseNftList(sh('nsenter', [`--net=${PATH}`, '--', 'nft', 'list', 'ruleset'])).tables).to.deep.equal([]);
      expect((await executor.cleanup({ ...opts, ruleSet })).changed).to.equal(false);
    });
  }
});
