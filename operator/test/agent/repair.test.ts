// Repair and drift: the pure plan for every situation, then PodRepairer on simulated netns with pods found
// through a real libcni cache directory.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import { DryRunExecutor, ownsChain } from '../../src/iptables/index.js';
import { RecordingEvents } from '../../src/kube/events.js';
import { silentLogger } from '../../src/util/log.js';
import { REPAIR_DEFAULTS, type CniRepairSettings } from '../../src/render/cniconfig.js';
import { KeyedLock } from '../../src/agent/lock.js';
import { NetnsIndex } from '../../src/agent/netns.js';
import { StaticPodSource } from '../../src/agent/pods.js';
import { DriftProbe, parseFingerprints } from '../../src/agent/drift.js';
import { type PodWriter, type RepairInput, PodRepairer, planRepair, validationFailed } from '../../src/agent/repair.js';
import { pod, tempDir } from './helpers.js';

const settings = (over: Partial<CniRepairSettings> = {}): CniRepairSettings => ({ ...REPAIR_DEFAULTS, ...over });

describe('repair plan (pure)', () => {
  const base: RepairInput = { wantsRedirect: true, programmed: false, mayHaveMissedPlugin: true, validationFailed: false, labelled: false, settings: settings() };
  const empty = { inSync: false, hasOurs: false };
  const cases: { name: string; input: Partial<RepairInput>; actions: string[] }[] = [
    { name: 'does nothing for a pod that is not redirected', input: { wantsRedirect: false, live: empty }, actions: [] },
    { name: 'does nothing for a pod whose rules are in sync', input: { live: { inSync: true, hasOurs: true } }, actions: [] },
    { name: 'restores drifted rules (some of ours left)', input: { live: { inSync: false, hasOurs: true } }, actions: ['restore'] },
    { name: 'restores rules this agent programmed even if all were flushed', input: { live: empty, programmed: true }, actions: ['restore'] },
    { name: 'restores drift even with repair disabled', input: { live: { inSync: false, hasOurs: true }, settings: settings({ enabled: false }) }, actions: ['restore'] },
    { name: 'labels and deletes a pod that started without rules (Istio defaults)', input: { live: empty }, actions: ['label', 'delete'] },
    { name: 'repairs in place with repairPods', input: { live: empty, settings: settings({ repairPods: true }) }, actions: ['repair'] },
    { name: 'only labels with labelPods alone', input: { live: empty, settings: settings({ deletePods: false }) }, actions: ['label'] },
    { name: 'does not label twice', input: { live: empty, labelled: true, settings: settings({ deletePods: false }) }, actions: [] },
    { name: 'only deletes with deletePods alone', input: { live: empty, settings: settings({ labelPods: false }) }, actions: ['delete'] },
    { name: 'does nothing with repair disabled', input: { live: empty, settings: settings({ enabled: false }) }, actions: [] },
    { name: 'acts on a failed istio-validation when the netns is unknown', input: { validationFailed: true, settings: settings({ labelPods: false }) }, actions: ['delete'] },
    { name: 'falls back to label/delete when repairPods cannot find the netns', input: { validationFailed: true, settings: settings({ repairPods: true, deletePods: false }) }, actions: ['label'] },
    { name: 'leaves a pod with an unknown netns and no failure alone', input: {}, actions: [] },
    { name: 'leaves alone a pod without rules whose sandbox was set up after the agent was ready (its annotations changed)', input: { live: empty, mayHaveMissedPlugin: false }, actions: [] },
    { name: 'does not act on a failed validation once the rules are in sync', input: { validationFailed: true, live: { inSync: true, hasOurs: true } }, actions: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planRepair({ ...base, ...c.input });
      expect(plan.actions).to.deep.equal(c.actions);
      expect(plan.reason).to.be.a('string').and.not.equal('');
    });
  }

  it("detects istio-validation's exit code 126 in the current or the last state", () => {
    const withStatus = (status: object): V1Pod => ({ ...pod(), status: { initContainerStatuses: [{ name: 'istio-validation', ...status } as never] } });
    expect(validationFailed(withStatus({ state: { terminated: { exitCode: 126 } } }), 'istio-validation')).to.equal(true);
    expect(validationFailed(withStatus({ state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 126 } } }), 'istio-validation')).to.equal(true);
    expect(validationFailed(withStatus({ state: { terminated: { exitCode: 0 } } }), 'istio-validation')).to.equal(false);
    expect(validationFailed(withStatus({ state: { terminated: { exitCode: 126 } } }), 'other-init')).to.equal(false);
    expect(validationFailed(pod(), 'istio-validation')).to.equal(false);
  });
});

class RecordingWriter implements PodWriter {
  readonly calls: string[] = [];
  label(p: V1Pod, key: string, value: string): Promise<void> {
    this.calls.push(`label ${p.metadata?.name ?? ''} ${key}=${value}`);
    return Promise.resolve();
  }
  delete(p: V1Pod): Promise<void> {
    this.calls.push(`delete ${p.metadata?.name ?? ''} uid=${p.metadata?.uid ?? ''}`);
    return Promise.resolve();
  }
}

describe('PodRepairer', () => {
  let dir: string;
  let dry: DryRunExecutor;
  let events: RecordingEvents;
  let writer: RecordingWriter;
  let pods: StaticPodSource;
  let index: NetnsIndex;

  const netnsOf = (name: string): string => path.join(dir, 'netns', name);
  /** A pod whose sandbox the runtime set up (netns + libcni cache entry, as containerd or cnitool write it). */
  const sandbox = (p: V1Pod, chain?: string[]): void => {
    const name = p.metadata?.name ?? '';
    fs.writeFileSync(netnsOf(name), '');
    const entry = {
      kind: 'cniCacheV1',
      containerId: `ctr-${name}`,
      // The configuration the runtime ran; `{}` (no chain to read) unless given.
      config: Buffer.from(JSON.stringify(chain ? { cniVersion: '1.0.0', name: 'k8s-pod-network', plugins: chain.map((type) => ({ type })) } : {})).toString('base64'),
      ifName: 'eth0',
      networkName: 'k8s-pod-network',
      netns: netnsOf(name),
      cniArgs: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAMESPACE', p.metadata?.namespace ?? ''],
        ['K8S_POD_NAME', name],
        ['K8S_POD_UID', p.metadata?.uid ?? ''],
      ],
      result: { cniVersion: '1.0.0', ips: [{ address: '10.244.0.9/24' }] },
    };
    fs.writeFileSync(path.join(dir, 'cache/results', `k8s-pod-network-ctr-${name}-eth0`), JSON.stringify(entry));
    pods.set(p);
  };
  const repairer = (repair: CniRepairSettings, probe?: DriftProbe): PodRepairer =>
    new PodRepairer({ pods, executor: dry, events, index, locks: new KeyedLock(), settings: { excludeNamespaces: [] }, repair, writer, log: silentLogger(), ...(probe ? { probe } : {}) });
  const chains = (name: string): string[] => dry.sim.state(netnsOf(name)).v4.tables.flatMap((t) => t.chains.filter((c) => ownsChain(c.name)).map((c) => c.name));

  beforeEach(() => {
    dir = tempDir('repair');
    fs.mkdirSync(path.join(dir, 'netns'));
    fs.mkdirSync(path.join(dir, 'cache/results'), { recursive: true });
    dry = new DryRunExecutor();
    events = new RecordingEvents();
    writer = new RecordingWriter();
    pods = new StaticPodSource();
    index = new NetnsIndex(path.join(dir, 'cache'), path.join(dir, 'netns'), 0);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('repairs in place a pod that started before the agent (repairPods), then leaves it alone', async () => {
    sandbox(pod({ name: 'early' }));
    const r = repairer(settings({ repairPods: true }));
    expect(await r.reconcile('shop/early')).to.deep.equal(['repair']);
    expect(chains('early')).to.include('ISTIO_OUTPUT');
    expect(events.events.map((e) => `${e.type} ${e.reason}`)).to.deep.equal(['Normal TrafficRedirectRepaired']);
    expect(await r.reconcile('shop/early')).to.deep.equal([]);
    expect(writer.calls).to.deep.equal([]);
  });

  it('labels and deletes such a pod with the default settings, without touching its netns', async () => {
    sandbox(pod({ name: 'early', uid: 'u-9' }));
    expect(await repairer(settings()).reconcile('shop/early')).to.deep.equal(['label', 'delete']);
    expect(writer.calls).to.deep.equal(['label early cni.istio.io/uninitialized=true', 'delete early uid=u-9']);
    expect(chains('early')).to.deep.equal([]);
    expect(events.events.map((e) => e.reason)).to.deep.equal(['UninitializedPodLabelled', 'UninitializedPodDeleted']);
  });

  it('restores drifted rules of a pod it repaired earlier, whatever the repair settings', async () => {
    sandbox(pod({ name: 'p' }));
    await repairer(settings({ repairPods: true })).reconcile('shop/p');
    await dry.sim.run('nsenter', [`--net=${netnsOf('p')}`, '--', 'iptables-restore', '--noflush'], '*nat\n-D OUTPUT -j ISTIO_OUTPUT\n-F ISTIO_REDIRECT\nCOMMIT\n');
    expect(await repairer(settings({ enabled: false })).reconcile('shop/p')).to.deep.equal(['restore']);
    expect(await repairer(settings({ enabled: false })).reconcile('shop/p')).to.deep.equal([]);
  });

  it('leaves alone pods that do not qualify, are in sync, or whose netns it cannot find', async () => {
    sandbox(pod({ name: 'nosidecar', containers: ['app'] }));
    pods.set(pod({ name: 'unknown' }));
    const r = repairer(settings());
    expect(await r.reconcile('shop/nosidecar')).to.deep.equal([]);
    expect(await r.reconcile('shop/unknown')).to.deep.equal([]);
    expect(await r.reconcile('shop/deleted-meanwhile')).to.deep.equal([]);
    expect(writer.calls).to.deep.equal([]);
  });

  it('does not treat a pod set up after the agent was ready as a race (the plugin decided then)', async () => {
    sandbox(pod({ name: 'later' }));
    const r = new PodRepairer({ pods, executor: dry, events, index, locks: new KeyedLock(), settings: { excludeNamespaces: [] }, repair: settings(), writer, log: silentLogger(), readyAt: () => 0 });
    expect(await r.reconcile('shop/later')).to.deep.equal([]);
    expect(writer.calls).to.deep.equal([]);
  });

  it('repairs a pod set up after the agent was ready by a chain without mizzen-cni (the runtime read the configuration before our insert)', async () => {
    sandbox(pod({ name: 'raced' }), ['bridge']);
    const r = new PodRepairer({ pods, executor: dry, events, index, locks: new KeyedLock(), settings: { excludeNamespaces: [] }, repair: settings({ repairPods: true }), writer, log: silentLogger(), readyAt: () => 0 });
    expect(await r.reconcile('shop/raced')).to.deep.equal(['repair']);
    expect(chains('raced')).to.include('ISTIO_OUTPUT');
  });

  it('leaves alone a pod without rules whose chain had mizzen-cni, even one set up before the agent was ready (the plugin decided)', async () => {
    sandbox(pod({ name: 'decided' }), ['bridge', 'mizzen-cni']);
    const r = new PodRepairer({ pods, executor: dry, events, index, locks: new KeyedLock(), settings: { excludeNamespaces: [] }, repair: settings({ repairPods: true }), writer, log: silentLogger(), readyAt: () => Date.now() + 60_000 });
    expect(await r.reconcile('shop/decided')).to.deep.equal([]);
    expect(chains('decided')).to.deep.equal([]);
  });

  it('ignores a cache entry of an earlier pod with the same name (uid differs)', async () => {
    sandbox(pod({ name: 'sts-0', uid: 'old' }));
    pods.set(pod({ name: 'sts-0', uid: 'new' }));
    expect(await repairer(settings()).reconcile('shop/sts-0')).to.deep.equal([]);
  });

  it('deletes a pod whose istio-validation failed even when its netns is unknown', async () => {
    pods.set({ ...pod({ name: 'v' }), status: { initContainerStatuses: [{ name: 'istio-validation', image: 'x', imageID: '', ready: false, restartCount: 2, state: { terminated: { exitCode: 126 } } }] } });
    expect(await repairer(settings({ labelPods: false })).reconcile('shop/v')).to.deep.equal(['delete']);
  });

  it('with a drift probe reads only netns whose fingerprint moved: one probe per round, not a save per pod', async () => {
    for (const n of ['a', 'b', 'c']) sandbox(pod({ name: n }));
    const r0 = repairer(settings({ repairPods: true }));
    for (const n of ['a', 'b', 'c']) await r0.reconcile(`shop/${n}`);
    // The simulated netns's rules stand in for nf_tables' generation.
    const asked: string[][] = [];
    const probe = new DriftProbe(
      (netns) => {
        asked.push([...netns]);
        return Promise.resolve(new Map(netns.map((n) => [n, JSON.stringify(dry.sim.state(n).v4)])));
      },
      () => index.knownNetns(),
      0,
    );
    const r = repairer(settings({ enabled: false }), probe);
    const saves = (): number => dry.records.filter((x) => x.args.at(-1) === 'iptables-save').length;
    const round = async (): Promise<string[][]> => Promise.all(['a', 'b', 'c'].map((n) => r.reconcile(`shop/${n}`)));
    // First round: nothing verified yet, every netns is read once.
    let before = saves();
    expect(await round()).to.deep.equal([[], [], []]);
    expect(saves() - before).to.equal(3);
    // Nothing changed: no save at all.
    before = saves();
    expect(await round()).to.deep.equal([[], [], []]);
    expect(saves() - before).to.equal(0);
    // One netns drifts: only it is read, and restored.
    await dry.sim.run('nsenter', [`--net=${netnsOf('b')}`, '--', 'iptables-restore', '--noflush'], '*nat\n-F ISTIO_REDIRECT\nCOMMIT\n');
    before = saves();
    expect(await round()).to.deep.equal([[], ['restore'], []]);
    expect(saves() - before).to.equal(2); // the check, then the restore's own read
    expect(chains('b')).to.include('ISTIO_REDIRECT');
    expect(asked.every((list) => list.length === 3)).to.equal(true);
    // A changed desired rule set (annotation) is read even with the same fingerprint.
    pods.set(pod({ name: 'c', annotations: { 'traffic.sidecar.istio.io/excludeOutboundPorts': '9090' } }));
    before = saves();
    await r.reconcile('shop/c');
    expect(saves() - before).to.be.greaterThan(0);
  });
});

describe('drift probe fingerprints', () => {
  it('parses the fingerprint lines, leaving out netns it could not read', () => {
    expect([...parseFingerprints('/run/netns/a\tgen=4\n/run/netns/b\terror: open /run/netns/b: no such file or directory\n\nnoise\n').entries()]).to.deep.equal([['/run/netns/a', 'gen=4']]);
  });

  it('an unreadable round means every netns is read the slow way', async () => {
    const probe = new DriftProbe(() => Promise.reject(new Error('no binary')), () => ['/x'], 1000);
    const fp = await probe.current('/x');
    expect(fp).to.equal(undefined);
    probe.verify('/x', fp, 'rules');
    expect(probe.unchanged('/x', fp, 'rules')).to.equal(false);
  });
});
