// Native nftables on the real kernel: every golden case's nft rule set applied with `nft -f` into a throwaway
// network namespace, read back with `nft list ruleset` exactly as written (counter values aside), applied again
// without writing, and removed. Opt-in like the iptables kernel tests (MIZZEN_NETNS_TESTS=1, root, nft).
import { expect } from 'chai';
import { type HostFiles, type NftRuleSet, NftBackedExecutor, NftExecutor, buildNftRuleSet, buildRuleSet, parseArgs, parseNftList, resolveConfig } from '../../src/iptables/index.js';
import { CASES } from './cases.js';
import { sh } from './kernelcases.js';

const enabled = process.env.MIZZEN_NETNS_TESTS === '1';
const NETNS = `mz-nft-test-${process.pid}`;
const PATH = `/run/netns/${NETNS}`;

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

(enabled ? describe : describe.skip)('the agent executor with native nftables on the real kernel (MIZZEN_NETNS_TESTS=1)', function () {
  this.timeout(30_000);
  const NS = `mz-nft-agent-${process.pid}`;
  const opts = { netnsPath: `/run/netns/${NS}` };
  const executor = new NftBackedExecutor();

  before(() => sh('ip', ['netns', 'add', NS]));
  after(() => sh('ip', ['netns', 'del', NS]));

  it('programs the rule set of a pod as nft tables, finds it in sync, restores drift, and cleans up', async () => {
    const ruleSet = buildRuleSet(resolveConfig(parseArgs(['-b', '*', '-i', '*', '-d', '15020', '--ipv6']).flags, {}));
    expect((await executor.inspect(ruleSet, opts)).hasOurs).to.equal(false);
    // nft list, nft -f, and IPv6's ::6 on lo (ip -6 read, ip -6 write).
    expect((await executor.apply(ruleSet, opts)).spawns).to.equal(4);
    expect(await executor.inspect(ruleSet, opts)).to.deep.equal({ inSync: true, hasOurs: true, spawns: 1 });
    expect(sh('nsenter', [`--net=${opts.netnsPath}`, '--', 'iptables-nft-save'])).to.not.include('ISTIO_');
    sh('nsenter', [`--net=${opts.netnsPath}`, '--', 'nft', 'flush', 'chain', 'inet', 'istio-proxy-nat', 'istio-output']);
    const drift = await executor.check(ruleSet, opts);
    expect(drift[0]?.chains.map((c) => `${c.table}/${c.chain}:${c.reason}`)).to.deep.equal(['istio-proxy-nat/istio-output:rules-differ']);
    expect((await executor.apply(ruleSet, opts)).changed).to.equal(true);
    expect((await executor.inspect(ruleSet, opts)).inSync).to.equal(true);
    expect((await executor.cleanup({ ...opts, ruleSet })).changed).to.equal(true);
    expect(await executor.inspect(ruleSet, opts)).to.deep.include({ hasOurs: false });
  });
});
