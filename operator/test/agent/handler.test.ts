// The agent's answers to plugin requests, on the iptables engine's simulated netns (same code path as a real
// apply, nothing touched): decide, program, refuse invalid annotations with an Event, restore on CHECK, clean on DEL.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { type RuleSet, DryRunExecutor, NETLINK_TOOL, encodeRestore, ownsChain, restoreStep } from '../../src/iptables/index.js';
import { RecordingEvents } from '../../src/kube/events.js';
import { silentLogger } from '../../src/util/log.js';
import { PluginHandler, desiredFor } from '../../src/agent/handler.js';

/** The rule set the handler programs for the default test pod. */
function desiredRuleSet(): RuleSet {
  const want = desiredFor(pod(), ['10.244.0.2/24'], { excludeNamespaces: [] });
  if (!('ruleSet' in want) || want.ruleSet === undefined) throw new Error('not redirected');
  return want.ruleSet;
}
import { KeyedLock } from '../../src/agent/lock.js';
import { NetnsIndex } from '../../src/agent/netns.js';
import { StaticPodSource } from '../../src/agent/pods.js';
import type { PluginRequest, ProgramStep, StepResult } from '../../src/agent/protocol.js';
import type { PluginPeer } from '../../src/agent/socket.js';
import { pod, tempDir } from './helpers.js';

describe('agent plugin handler', () => {
  let dir: string;
  let netns: string;
  let dry: DryRunExecutor;
  let events: RecordingEvents;
  let pods: StaticPodSource;
  let index: NetnsIndex;
  let handler: PluginHandler;

  const req = (command: PluginRequest['command'], extra: Partial<PluginRequest> = {}): PluginRequest => ({
    command,
    cniVersion: '1.0.0',
    containerId: 'c1',
    netns,
    ifName: 'eth0',
    pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1' },
    ips: ['10.244.0.2/24'],
    ...extra,
  });
  const ourChains = (family: 'v4' | 'v6' = 'v4'): string[] => {
    const state = dry.sim.state(netns)[family];
    return state.tables.flatMap((t) => t.chains.filter((c) => ownsChain(c.name)).map((c) => `${t.name}/${c.name}`)).sort();
  };

  beforeEach(() => {
    dir = tempDir('handler');
    netns = path.join(dir, 'netns-1');
    fs.writeFileSync(netns, '');
    dry = new DryRunExecutor();
    events = new RecordingEvents();
    pods = new StaticPodSource([pod()]);
    index = new NetnsIndex(path.join(dir, 'cache'), '/var/run/netns');
    handler = new PluginHandler({
      nodeName: 'node-a',
      pods,
      executor: dry,
      events,
      index,
      locks: new KeyedLock(),
      settings: { excludeNamespaces: ['kube-system'] },
      log: silentLogger(),
      podWaitMs: 10,
      explainMissing: (ref) => Promise.resolve(ref.name === 'elsewhere' ? 'it is bound to node node-b, and this agent serves node node-a' : undefined),
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('ADD programs a pod with a sidecar: one iptables-save and one iptables-restore in its netns', async () => {
    const res = await handler.handle(req('ADD'));
    expect(res).to.deep.equal({ ok: true, redirected: true, reason: 'sidecar', message: 'the pod has an istio-proxy sidecar', spawns: 2 });
    expect(ourChains()).to.deep.equal(['nat/ISTIO_INBOUND', 'nat/ISTIO_IN_REDIRECT', 'nat/ISTIO_OUTPUT', 'nat/ISTIO_REDIRECT']);
    expect(dry.records.every((r) => r.netns === netns)).to.equal(true);
    expect(index.trackedFor({ namespace: 'shop', name: 'web-1' })?.netns).to.equal(netns);
  });

  it('a second ADD is idempotent: it reads once and writes nothing', async () => {
    await handler.handle(req('ADD'));
    const before = dry.records.length;
    const res = await handler.handle(req('ADD'));
    expect(res).to.include({ ok: true, spawns: 1 });
    expect(dry.records.slice(before).map((r) => r.args.at(-1))).to.deep.equal(['iptables-save']);
  });

  it('ADD programs ip6tables too when the pod has an IPv6 address', async () => {
    await handler.handle(req('ADD', { ips: ['10.244.0.2/24', 'fd00:10:244::2/64'] }));
    expect(ourChains('v6')).to.include('nat/ISTIO_OUTPUT');
  });

  it('ADD maps the runtime netns path under --netns-dir', () => {
    const mapped = new NetnsIndex(path.join(dir, 'cache'), dir);
    expect(mapped.agentPath('/var/run/netns/netns-1')).to.equal(netns);
    expect(mapped.agentPath('/run/netns/netns-1')).to.equal(netns);
    expect(mapped.agentPath('/proc/42/ns/net')).to.equal('/proc/42/ns/net');
  });

  it('ADD leaves pods that do not qualify alone, and says why', async () => {
    pods.set(pod({ name: 'plain', containers: ['app'] }));
    pods.set(pod({ name: 'sys', namespace: 'kube-system' }));
    expect(await handler.handle(req('ADD', { pod: { namespace: 'shop', name: 'plain' } }))).to.include({ ok: true, redirected: false, reason: 'no-sidecar' });
    expect(await handler.handle(req('ADD', { pod: { namespace: 'kube-system', name: 'sys' } }))).to.include({ ok: true, redirected: false, reason: 'excluded-namespace' });
    expect(dry.records).to.have.length(0);
  });

  it('ADD refuses an invalid annotation: an error naming it, a Warning Event on the pod, nothing programmed', async () => {
    pods.set(pod({ annotations: { 'traffic.sidecar.istio.io/excludeOutboundPorts': '80,http' } }));
    const res = await handler.handle(req('ADD'));
    expect(res).to.deep.equal({
      ok: false,
      code: 100,
      msg: 'pod shop/web-1 has an invalid annotation traffic.sidecar.istio.io/excludeOutboundPorts: "http" is not a port (1-65535)',
    });
    expect(events.events).to.deep.equal([
      { kind: 'Pod', name: 'web-1', type: 'Warning', reason: 'InvalidTrafficAnnotation', message: 'Traffic redirection not programmed: annotation traffic.sidecar.istio.io/excludeOutboundPorts: "http" is not a port (1-65535)' },
    ]);
    expect(dry.records).to.have.length(0);
  });

  it('ADD of a pod the cache does not have is a retriable error that says why', async () => {
    const res = await handler.handle(req('ADD', { pod: { namespace: 'shop', name: 'elsewhere' } }));
    expect(res).to.deep.equal({ ok: false, code: 11, msg: 'mizzen agent cannot decide on pod shop/elsewhere: it is bound to node node-b, and this agent serves node node-a' });
    const stale = await handler.handle(req('ADD', { pod: { namespace: 'shop', name: 'web-1', uid: 'uid-2' } }));
    expect(stale).to.include({ ok: false, code: 11 });
    expect(stale.ok ? '' : stale.msg).to.match(/web-1 \(uid uid-2\): it is not in the agent's cache of node node-a/);
  });

  it('ADD with excluded ports and CIDRs from annotations programs them', async () => {
    pods.set(pod({ annotations: { 'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.0/12', 'traffic.sidecar.istio.io/excludeInboundPorts': '8081' } }));
    await handler.handle(req('ADD'));
    const nat = dry.sim.state(netns).v4.tables.find((t) => t.name === 'nat');
    const rules = nat?.chains.flatMap((c) => c.rules.map((r) => `${c.name} ${r.join(' ')}`)) ?? [];
    expect(rules).to.include('ISTIO_OUTPUT -d 10.96.0.0/12 -j RETURN');
    expect(rules).to.include('ISTIO_INBOUND -p tcp -m tcp --dport 8081 -j RETURN');
  });

  it('CHECK restores rules someone flushed, with a Normal Event', async () => {
    await handler.handle(req('ADD'));
    await dry.sim.run('nsenter', [`--net=${netns}`, '--', 'iptables-restore', '--noflush'], '*nat\n-F ISTIO_OUTPUT\nCOMMIT\n');
    const res = await handler.handle(req('CHECK'));
    expect(res).to.include({ ok: true, reason: 'restored', spawns: 3 });
    expect((await dry.check((index.trackedFor({ namespace: 'shop', name: 'web-1' })?.ruleSet ?? { families: [], ipCommands: [] }), { netnsPath: netns }))[0]?.inSync).to.equal(true);
    expect(events.events.map((e) => e.reason)).to.deep.equal(['TrafficRedirectRestored']);
    expect(await handler.handle(req('CHECK'))).to.include({ ok: true, reason: 'in-sync', spawns: 1 });
  });

  it('DEL removes every rule and forgets the pod; a DEL of a vanished netns succeeds without spawning', async () => {
    await handler.handle(req('ADD'));
    expect(await handler.handle(req('DEL'))).to.include({ ok: true, redirected: true, reason: 'cleaned' });
    expect(ourChains()).to.deep.equal([]);
    expect(dry.sim.state(netns).v4.tables.flatMap((t) => t.chains.filter((c) => c.rules.length > 0))).to.deep.equal([]);
    expect(index.trackedFor({ namespace: 'shop', name: 'web-1' })).to.equal(undefined);
    const n = dry.records.length;
    expect(await handler.handle(req('DEL', { netns: path.join(dir, 'gone') }))).to.include({ ok: true, reason: 'netns-gone', spawns: 0 });
    expect(dry.records.length).to.equal(n);
  });

  it('STATUS says the agent is ready', async () => {
    expect(await handler.handle(req('STATUS'))).to.include({ ok: true, reason: 'ready' });
  });

  it('serialises work on one netns: concurrent ADD and CHECK never interleave their commands', async () => {
    await Promise.all([handler.handle(req('ADD')), handler.handle(req('CHECK')), handler.handle(req('ADD'))]);
    const cmds = dry.records.map((r) => r.args.at(-1) === 'iptables-save' ? 'save' : 'restore');
    expect(cmds).to.deep.equal(['save', 'restore', 'save', 'save']);
  });

  describe('through a plugin that runs the programs (exec)', () => {
    /** The plugin's side, on the simulated netns: runs each program's steps there, stopping at the first failure. */
    class SimPeer implements PluginPeer {
      readonly programs: { steps: readonly ProgramStep[]; decision?: unknown }[] = [];
      failWith?: StepResult;

      /** The kernel's answer to a netlink batch (the simulation does not model nf_tables messages). */
      netlinkResult: StepResult = { code: 0, stdout: '', stderr: '' };

      async run(steps: readonly ProgramStep[], decision?: unknown): Promise<StepResult[]> {
        this.programs.push({ steps, ...(decision ? { decision } : {}) });
        const out: StepResult[] = [];
        for (const s of steps) {
          const r =
            s.netlink !== undefined
              ? this.netlinkResult
              : this.failWith && s.tool.endsWith('-restore')
                ? this.failWith
                : await dry.sim.run('nsenter', [`--net=${netns}`, '--', s.tool, ...s.args], s.stdin);
          out.push(r);
          if (r.code !== 0) break;
        }
        return out;
      }

      tools(): string[][] {
        return this.programs.map((p) => p.steps.map((s) => s.tool));
      }
    }
    let peer: SimPeer;
    const xreq = (command: PluginRequest['command'], extra: Partial<PluginRequest> = {}): PluginRequest => req(command, { network: 'k8s-pod-network', exec: true, ...extra });
    beforeEach(() => (peer = new SimPeer()));

    it('ADD of a fresh netns: one program, the whole rule set in one iptables-restore, nothing read first', async () => {
      const res = await handler.handle(xreq('ADD'), peer);
      expect(res).to.deep.equal({ ok: true, redirected: true, reason: 'sidecar', message: 'the pod has an istio-proxy sidecar', spawns: 1 });
      expect(peer.tools()).to.deep.equal([['iptables-restore']]);
      expect(peer.programs[0]?.steps[0]).to.include({ family: 'v4' });
      expect(peer.programs[0]?.steps[0]?.args).to.deep.equal(['--noflush', '--wait']);
      expect(peer.programs[0]?.decision).to.deep.equal({ redirected: true, reason: 'sidecar', message: 'the pod has an istio-proxy sidecar' });
      expect(ourChains()).to.deep.equal(['nat/ISTIO_INBOUND', 'nat/ISTIO_IN_REDIRECT', 'nat/ISTIO_OUTPUT', 'nat/ISTIO_REDIRECT']);
      expect(index.trackedFor({ namespace: 'shop', name: 'web-1' })?.netns).to.equal(netns);
    });

    it('a repeated ADD compares with the live rules: one iptables-save through the plugin, nothing written', async () => {
      await handler.handle(xreq('ADD'), peer);
      const before = dry.sim.state(netns).v4;
      expect(await handler.handle(xreq('ADD'), peer)).to.include({ ok: true, spawns: 1 });
      expect(peer.tools()).to.deep.equal([['iptables-restore'], ['iptables-save']]);
      expect(dry.sim.state(netns).v4).to.deep.equal(before);
    });

    it('an ADD of a container libcni has a result for (e.g. after an agent restart) reads first too', async () => {
      fs.mkdirSync(path.join(dir, 'cache', 'results'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'cache', 'results', 'k8s-pod-network-c1-eth0'), '{}');
      await handler.handle(xreq('ADD'), peer);
      expect(peer.tools()).to.deep.equal([['iptables-save'], ['iptables-restore']]);
      expect(ourChains()).to.include('nat/ISTIO_OUTPUT');
    });

    it('a dual-stack pod’s fresh netns: one program with both families and the ip batch IPv6 needs', async () => {
      const res = await handler.handle(xreq('ADD', { ips: ['10.244.0.2/24', 'fd00:10:244::2/64'] }), peer);
      expect(res).to.include({ ok: true, spawns: peer.programs[0]?.steps.length });
      expect(peer.programs).to.have.length(1);
      expect(peer.programs[0]?.steps.map((s) => `${s.family} ${s.tool}`)).to.include.members(['v4 iptables-restore', 'v6 ip6tables-restore']);
      expect(ourChains('v6')).to.include('nat/ISTIO_OUTPUT');
    });

    it('a failed apply is a CNI error carrying the iptables message, with a Warning Event, and nothing recorded', async () => {
      peer.failWith = { code: 2, stdout: '', stderr: 'iptables-restore: line 4 failed\n' };
      const res = await handler.handle(xreq('ADD'), peer);
      expect(res).to.deep.equal({ ok: false, code: 101, msg: 'mizzen agent could not program pod shop/web-1: iptables-restore --noflush --wait failed (exit 2): iptables-restore: line 4 failed' });
      expect(events.events.map((e) => `${e.type} ${e.reason}`)).to.deep.equal(['Warning TrafficRedirectFailed']);
      expect(events.events[0]?.message).to.match(/iptables-restore: line 4 failed/);
      expect(index.trackedFor({ namespace: 'shop', name: 'web-1' })).to.equal(undefined);
    });

    it('a plugin that goes away mid-program fails the ADD, naming why', async () => {
      const gone: PluginPeer = { run: () => Promise.reject(new Error('the plugin closed the connection')) };
      const res = await handler.handle(xreq('ADD'), gone);
      expect(res).to.include({ ok: false, code: 101 });
      expect(res.ok ? '' : res.msg).to.match(/iptables-restore --noflush --wait failed \(exit -1\): the plugin closed the connection/);
    });

    describe('with the iptables-nft backend and a plugin that sends nf_tables batches', () => {
      let logged: { message: string; fields: Record<string, unknown> }[];
      const nftHandler = (netlink = true): PluginHandler => {
        dry = new DryRunExecutor({ backend: 'nft' });
        logged = [];
        const log = silentLogger();
        log.warn = ((message: string, fields: Record<string, unknown> = {}) => {
          logged.push({ message, fields });
          return log;
        }) as typeof log.warn;
        return new PluginHandler({ nodeName: 'node-a', pods, executor: dry, events, index, locks: new KeyedLock(), settings: { excludeNamespaces: [] }, log, podWaitMs: 10, netlink });
      };

      it('a fresh netns gets the restore input as one nf_tables batch: no process at all', async () => {
        const res = await nftHandler().handle(xreq('ADD', { netlink: true }), peer);
        expect(res).to.include({ ok: true, redirected: true, spawns: 0 });
        expect(peer.tools()).to.deep.equal([[NETLINK_TOOL]]);
        const step = peer.programs[0]?.steps[0];
        const want = restoreStep(desiredRuleSet(), 'v4', 'nft');
        expect(step?.netlink).to.equal(encodeRestore(want.stdin ?? '', 'v4')?.bytes.toString('base64'));
        expect(index.trackedFor({ namespace: 'shop', name: 'web-1' })?.netns).to.equal(netns);
      });

      it('a plugin that does not say it sends batches (an older one), or MIZZEN_CNI_NETLINK=0, gets iptables-nft-restore', async () => {
        expect(await nftHandler().handle(xreq('ADD'), peer)).to.include({ ok: true, spawns: 1 });
        expect(await nftHandler(false).handle(xreq('ADD', { containerId: 'c2', netns: `${netns}-2` }), peer)).to.include({ ok: true, spawns: 1 });
        expect(peer.tools()).to.deep.equal([['iptables-nft-restore'], ['iptables-nft-restore']]);
      });

      it('a batch the kernel refuses is logged with the rule it names, and the pod is programmed with iptables-restore', async () => {
        const what = encodeRestore(restoreStep(desiredRuleSet(), 'v4', 'nft').stdin ?? '', 'v4')?.what ?? new Map<number, string>();
        const seq = [...what].find(([, line]) => line.startsWith('-A PREROUTING'))?.[0];
        peer.netlinkResult = { code: 1, stdout: String(seq), stderr: 'operation not supported' };
        const res = await nftHandler().handle(xreq('ADD', { netlink: true }), peer);
        expect(res).to.include({ ok: true, redirected: true, spawns: 1 });
        expect(peer.tools()).to.deep.equal([[NETLINK_TOOL], ['iptables-nft-restore']]);
        expect(ourChains()).to.deep.equal(['nat/ISTIO_INBOUND', 'nat/ISTIO_IN_REDIRECT', 'nat/ISTIO_OUTPUT', 'nat/ISTIO_REDIRECT']);
        expect(logged).to.have.length(1);
        expect(logged[0]?.fields).to.deep.include({ family: 'v4', message: '-A PREROUTING -p tcp -j ISTIO_INBOUND (table nat)', error: 'operation not supported' });
      });

      it('a batch that could not be sent at all fails over the same way', async () => {
        peer.netlinkResult = { code: -1, stdout: '', stderr: 'mizzen-cni: netfilter netlink socket: address family not supported by protocol' };
        expect(await nftHandler().handle(xreq('ADD', { netlink: true }), peer)).to.include({ ok: true, spawns: 1 });
        expect(logged[0]?.fields).to.deep.include({ message: 'the whole batch', error: 'mizzen-cni: netfilter netlink socket: address family not supported by protocol' });
      });
    });

    it('CHECK and DEL run through the plugin too: the agent spawns nothing itself', async () => {
      await handler.handle(xreq('ADD'), peer);
      await dry.sim.run('nsenter', [`--net=${netns}`, '--', 'iptables-restore', '--noflush'], '*nat\n-F ISTIO_OUTPUT\nCOMMIT\n');
      const recorded = dry.records.length;
      expect(await handler.handle(xreq('CHECK'), peer)).to.include({ ok: true, reason: 'restored', spawns: 3 });
      expect(events.events.map((e) => e.reason)).to.deep.equal(['TrafficRedirectRestored']);
      expect(await handler.handle(xreq('DEL'), peer)).to.include({ ok: true, redirected: true, reason: 'cleaned' });
      expect(ourChains()).to.deep.equal([]);
      // Every command after the flush was a step the peer ran: save, save, restore (CHECK), save, restore (DEL).
      expect(dry.records.length - recorded).to.equal(5);
      expect(peer.tools().slice(1)).to.deep.equal([['iptables-save'], ['iptables-save'], ['iptables-restore'], ['iptables-save'], ['iptables-restore']]);
    });
  });
});
