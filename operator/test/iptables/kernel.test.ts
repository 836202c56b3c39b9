// The real kernel: every golden case applied with the real executor (nsenter + iptables-restore) into a throwaway
// network namespace, on the legacy and the nft backend. Opt-in (MIZZEN_NETNS_TESTS=1, root, iptables installed)
// because it needs privileges; it only ever touches the namespace it creates.
import { expect } from 'chai';
import { type Backend, SystemExecutor, SpawnRunner, parseSave, renderSave } from '../../src/iptables/index.js';
import { KERNEL_CASES, ruleSetOf, sh } from './kernelcases.js';

const enabled = process.env.MIZZEN_NETNS_TESTS === '1';
const NETNS = `mz-ipt-test-${process.pid}`;
const PATH = `/run/netns/${NETNS}`;

(enabled ? describe : describe.skip)('iptables on the real kernel (MIZZEN_NETNS_TESTS=1)', function () {
  this.timeout(30_000);

  before(() => {
    sh('ip', ['netns', 'add', NETNS]);
    // Like a pod sandbox, where the runtime's loopback plugin has brought lo up (IPv6 local routes need it).
    sh('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
  });
  after(() => {
    sh('ip', ['netns', 'del', NETNS]);
  });

  for (const backend of ['legacy', 'nft'] as Backend[]) {
    describe(`with the ${backend} backend`, () => {
      const executor = new SystemExecutor({ backend });
      const opts = { netnsPath: PATH };

      afterEach(async () => {
        await executor.cleanup({ ...opts, families: ['v4', 'v6'] });
      });

      for (const c of KERNEL_CASES) {
        it(`accepts, reads back identically and cleans up: ${c.name}`, async () => {
          const ruleSet = c.ruleSet();
          const first = await executor.apply(ruleSet, opts);
          expect(first.changed).to.equal(true);
          for (const drift of await executor.check(ruleSet, opts)) expect(drift, drift.family).to.deep.include({ inSync: true, chains: [] });
          const again = await executor.apply(ruleSet, opts);
          expect([again.changed, again.families.map((f) => f.restoreInput)]).to.deep.equal([false, ruleSet.families.map(() => undefined)]);
          const saveCmd = (f: 'v4' | 'v6'): string => `${f === 'v4' ? 'iptables' : 'ip6tables'}-${backend}-save`;
          for (const f of ruleSet.families) {
            const real = sh('nsenter', [`--net=${PATH}`, '--', saveCmd(f.family)]);
            expect(parseSave(renderSave(parseSave(real)))).to.deep.equal(parseSave(real));
          }
          const clean = await executor.cleanup({ ...opts, ruleSet });
          expect(clean.changed).to.equal(true);
          for (const f of ruleSet.families) {
            const left = parseSave(sh('nsenter', [`--net=${PATH}`, '--', saveCmd(f.family)]));
            expect(left.tables.flatMap((t) => t.chains.filter((ch) => ch.policy === '-' || ch.rules.length > 0).map((ch) => `${t.name}/${ch.name}`))).to.deep.equal([]);
          }
          expect((await executor.cleanup({ ...opts, ruleSet })).changed).to.equal(false);
        });
      }

      it('detects a flushed chain and a deleted jump, and repairs them with one restore', async () => {
        const ruleSet = ruleSetOf(['-b', '*', '-i', '*', '--redirect-dns', '--capture-all-dns']);
        await executor.apply(ruleSet, opts);
        sh('nsenter', [`--net=${PATH}`, '--', `iptables-${backend}-restore`, '--noflush'], '*nat\n-F ISTIO_OUTPUT\n-D PREROUTING -p tcp -j ISTIO_INBOUND\nCOMMIT\n');
        const [drift] = await executor.check(ruleSet, opts);
        expect(drift?.chains.map((d) => `${d.chain}:${d.reason}`)).to.deep.equal(['PREROUTING:jumps-differ', 'ISTIO_OUTPUT:rules-differ']);
        const repair = await executor.apply(ruleSet, opts);
        expect(repair.spawns).to.equal(2);
        expect((await executor.check(ruleSet, opts))[0]?.inSync).to.equal(true);
      });

      it('moves a netns from one config to another without leftovers', async () => {
        const tproxy = ruleSetOf(['-m', 'TPROXY', '-b', '*', '-i', '*', '-c', 'eth1', '--drop-invalid', '--ipv6']);
        const redirect = ruleSetOf(['-b', '*', '-i', '*', '--ipv6']);
        await executor.apply(tproxy, opts);
        await executor.apply(redirect, opts);
        for (const d of await executor.check(redirect, opts)) expect(d.inSync, d.family).to.equal(true);
        const mangle = parseSave(sh('nsenter', [`--net=${PATH}`, '--', `iptables-${backend}-save`, '-t', 'mangle']));
        expect(mangle.tables[0]?.chains.filter((ch) => ch.policy === '-' || ch.rules.length > 0)).to.deep.equal([]);
        // TPROXY's policy routing is the rule set's, removed by its cleanup.
        await executor.cleanup({ ...opts, ruleSet: tproxy });
        expect(sh('nsenter', [`--net=${PATH}`, '--', 'ip', '-4', 'rule', 'show'])).to.not.include('lookup 133');
      });
    });
  }

  it('detects the backend from the node netns with real binaries', async () => {
    const backend = await new SystemExecutor({ runner: new SpawnRunner() }).detectBackend();
    expect(['legacy', 'nft']).to.include(backend);
  });
});
