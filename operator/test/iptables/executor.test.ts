import { expect } from 'chai';
import {
  type CommandResult,
  type CommandRunner,
  DryRunExecutor,
  Executor,
  IptablesCommandError,
  SimulatedRunner,
  buildRuleSet,
  detectBackend,
  parseArgs,
  resolveConfig,
} from '../../src/iptables/index.js';

const ruleSetOf = (...argv: string[]) => buildRuleSet(resolveConfig(parseArgs(argv).flags, {}));
const POD = { netnsPath: '/var/run/netns/cni-1' };

describe('iptables executor', () => {
  const spawns: Array<[string, string[], number, number]> = [
    ['an IPv4 REDIRECT pod', ['-b', '*', '-i', '*'], 2, 1],
    ['a dual-stack pod (reads, then adds ::6 on lo)', ['--ipv6', '-b', '*', '-i', '*'], 6, 3],
    ['an IPv4 TPROXY pod (reads, then writes policy routing)', ['-m', 'TPROXY', '-b', '*', '-i', '*'], 4, 2],
    ['a dual-stack TPROXY pod', ['--ipv6', '-m', 'TPROXY', '-b', '*', '-i', '*'], 8, 4],
  ];
  for (const [what, argv, first, second] of spawns) {
    it(`spawns ${first} processes for the first ADD of ${what}, ${second} for a repeated one`, async () => {
      const dry = new DryRunExecutor();
      const ruleSet = ruleSetOf(...argv);
      const a = await dry.apply(ruleSet, POD);
      const b = await dry.apply(ruleSet, POD);
      expect([a.spawns, a.changed, b.spawns, b.changed]).to.deep.equal([first, true, second, false]);
      expect(dry.records.length).to.equal(first + second);
      for (const d of b.families.map((f) => f.drift)) expect(d.inSync).to.equal(true);
    });
  }

  it('enters the pod netns with nsenter and feeds restore input on stdin', async () => {
    const dry = new DryRunExecutor({ backend: 'nft' });
    await dry.apply(ruleSetOf('-b', '*'), POD);
    expect(dry.records.map((r) => [r.cmd, ...r.args].join(' '))).to.deep.equal([
      'nsenter --net=/var/run/netns/cni-1 -- iptables-nft-save',
      'nsenter --net=/var/run/netns/cni-1 -- iptables-nft-restore --noflush --wait',
    ]);
    expect(dry.records[1]?.input).to.match(/^\*nat\n:ISTIO_INBOUND - \[0:0\]\n/);
    expect(dry.sim.state('').v4.tables).to.deep.equal([]);
  });

  it('repairs drift with a restore of only what differs', async () => {
    const dry = new DryRunExecutor();
    const ruleSet = ruleSetOf('-b', '*', '-i', '*');
    await dry.apply(ruleSet, POD);
    await dry.sim.run('nsenter', ['--net=/var/run/netns/cni-1', '--', 'iptables-restore', '--noflush'], '*nat\n-F ISTIO_INBOUND\nCOMMIT\n');
    const [drift] = await dry.check(ruleSet, POD);
    expect(drift?.chains.map((c) => c.chain)).to.deep.equal(['ISTIO_INBOUND']);
    const fixed = await dry.apply(ruleSet, POD);
    expect(fixed.families[0]?.restoreInput?.split('\n')[1]).to.equal(':ISTIO_INBOUND - [0:0]');
    expect((await dry.check(ruleSet, POD))[0]?.inSync).to.equal(true);
  });

  it('raises a typed error with the first stderr line when a command fails', async () => {
    const sim = new SimulatedRunner();
    const executor = new Executor(sim, 'plain');
    // A rule set whose restore the (strict) simulated kernel refuses: a jump to a chain that does not exist.
    const bad = { families: [{ family: 'v4' as const, tables: [{ table: 'nat' as const, chains: [{ name: 'OUTPUT', builtin: true, rules: [['-j', 'ISTIO_MISSING']] }] }] }], ipCommands: [] };
    const err = await executor.apply(bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(IptablesCommandError);
    expect((err as IptablesCommandError).command).to.equal('iptables-restore --noflush --wait');
    expect((err as Error).message).to.match(/failed \(exit 1\): line 2: target ISTIO_MISSING/);
  });

  describe('backend detection', () => {
    const runner = (outputs: Record<string, CommandResult | Error>): CommandRunner & { calls: string[] } => {
      const calls: string[] = [];
      return {
        calls,
        run(cmd: string): Promise<CommandResult> {
          calls.push(cmd);
          const out = outputs[cmd];
          if (out === undefined || out instanceof Error) return Promise.reject(out ?? new Error(`spawn ${cmd} ENOENT`));
          return Promise.resolve(out);
        },
      };
    };
    const save = (n: number): CommandResult => ({ code: 0, stdout: `*nat\n${'-A KUBE-X -j RETURN\n'.repeat(n)}COMMIT\n`, stderr: '' });
    const cases: Array<[string, Record<string, CommandResult | Error>, string]> = [
      ['legacy when it holds more rules', { 'iptables-legacy-save': save(5), 'iptables-nft-save': save(1) }, 'legacy'],
      ['nft when it holds more rules', { 'iptables-legacy-save': save(0), 'iptables-nft-save': save(3) }, 'nft'],
      ['nft on a tie', { 'iptables-legacy-save': save(0), 'iptables-nft-save': save(0) }, 'nft'],
      ['legacy when nft is missing', { 'iptables-legacy-save': save(0) }, 'legacy'],
      ['plain iptables when neither variant exists', {}, 'plain'],
    ];
    for (const [what, outputs, want] of cases) {
      it(`picks ${what}`, async () => {
        expect(await detectBackend(runner(outputs))).to.equal(want);
      });
    }

    it('detects once per executor, in the node netns', async () => {
      const r = runner({ 'iptables-legacy-save': save(0), 'iptables-nft-save': save(0), 'nsenter': save(0) });
      const executor = new Executor(r);
      await executor.save('v4', POD);
      await executor.save('v4', POD);
      expect(r.calls).to.deep.equal(['iptables-legacy-save', 'iptables-nft-save', 'nsenter', 'nsenter']);
    });
  });
});
