// Fault suite of the CNI node agent on real network namespaces (the lab of test/e2e/cni: Debian's bridge +
// host-local as the primary CNI, mizzen-cni chained by the agent's install-cni, cnitool as the runtime, the agent
// a real process against the e2e cluster's API server):
//  1. the agent SIGKILLed and SIGTERMed while 50 pods are being created: every pod ends with its rules; an ADD
//     either programs the pod before it returns success or fails with the retryable code 11 (and the runtime's
//     retry in a new sandbox succeeds), and a pod set up while our entry was out of the chain (the SIGTERM gap) is
//     repaired in place; the pods that existed before keep their rules byte for byte;
//  2. the primary CNI rewriting its conflist 100 times: our entry back each time; after the agent's uninstall the
//     file is byte for byte the primary's last write;
//  3. a pod's ISTIO_* chains flushed by hand: restored by the periodic drift check;
//  4. every agent ran with exactly the RBAC the operator renders for it (a token of the istio-cni ServiceAccount):
//     no request refused, the token in no log line.
// Figures printed (p50/p99/max, counts, load average); bounds are generous. Needs root (skipped otherwise).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { client as kubeClient, sleep, waitFor } from '../e2e/lib/cluster.js';
import { quantile } from '../e2e/lib/stats.js';
import { type AgentProcess, CniLab, agentTail, createNamespace, createPod, expectRenderedIdentity, metricSum, netnsUnavailable, podManifest, sh } from '../e2e/cni/lib.js';
import { refusedRequests } from '../e2e/lib/rbac.js';

type PodRef = { namespace: string; name: string; uid: string };

const PODS = Number(process.env.MIZZEN_FAULT_CNI_PODS ?? 50);
const REWRITES = Number(process.env.MIZZEN_FAULT_CNI_REWRITES ?? 100);
/** Sandboxes the "runtime" sets up at once (the kubelet starts pods in parallel). */
const PARALLEL = 6;
/** The agent's periodic drift check (--drift-interval), short so that case 3 runs in seconds. */
const DRIFT_INTERVAL_MS = 2000;
/**
 * What mizzen-cni says with code 11 (CNI's "try again later"): the agent unreachable, or the connection broken before
 * its answer; or the agent cannot find the pod yet. cnitool prints the message, not the code.
 */
const RETRYABLE = /mizzen-cni cannot program pod traffic redirection: the mizzen node agent is unreachable|mizzen agent cannot decide on pod/;
/** values.cni of the agent: its configuration and exactly the RBAC the operator renders for it. */
const CNI_VALUES = { excludeNamespaces: ['kube-system'], repair: { enabled: true, repairPods: true, labelPods: false, deletePods: false } };

const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const figures = (xs: readonly number[], unit = 'ms'): string => (xs.length ? `p50 ${quantile(xs, 0.5).toFixed(0)} ${unit}, p99 ${quantile(xs, 0.99).toFixed(0)} ${unit}, max ${Math.max(...xs).toFixed(0)} ${unit} (n=${xs.length})` : 'none');

/** Runs fn over the items, at most `parallel` at a time. */
async function pool<T>(items: readonly T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** One pod's way through the sandbox set-ups of case 1. */
interface PodRun {
  readonly name: string;
  ref?: PodRef;
  /** The netns of its current (last) sandbox. */
  netns: string;
  /** ADDs that failed with code 11 (each followed by DEL, a new sandbox and another ADD). */
  retries: number;
  /** A failure that is not code 11: the test fails on it. */
  otherError?: string;
  /** The chain the runtime ran for the ADD that succeeded (libcni's cache). */
  chain?: string[];
  /** Our chains in its netns right after that ADD returned success. */
  chainsAfterAdd?: string[];
  startedAt: number;
  succeededAt?: number;
  /** When its rules matched the reference (for pods set up without our plugin: the agent's repair). */
  rulesAt?: number;
}

describe('reliability: the CNI node agent under faults (real netns, cnitool, a real API server)', function () {
  this.timeout(10 * 60_000);
  const unavailable = netnsUnavailable();
  const ns = `mz-rel-cni-${randomBytes(3).toString('hex')}`;
  const id = `${process.pid % 100000}`;
  const netnsName = (tag: string): string => `c10-${tag}-${id}`;
  let lab: CniLab;
  let c: KubeClient;
  /** The agent now running, and every one started (for the log of a failed test). */
  let agent: AgentProcess | undefined;
  const agents: AgentProcess[] = [];
  const sandboxes = new Map<string, PodRef>();
  let peer = '';
  let peerIp = '';
  /** The rules every sidecar pod of this suite gets (all have the same annotations): iptables-save of a first pod. */
  let reference = '';
  const runs: PodRun[] = [];
  /** The agent's kubeconfig: a token of its rendered ServiceAccount (lab.configureAgent). */
  let agentKubeconfig = '';

  async function startAgent(): Promise<{ agent: AgentProcess; readyMs: number }> {
    const t0 = Date.now();
    const a = await lab.startAgent(agentKubeconfig, ['--drift-interval', `${DRIFT_INTERVAL_MS}ms`]);
    agent = a;
    agents.push(a);
    await waitFor('the agent to be ready', () => a.logs.find((l) => l.message === 'Became ready') ?? (a.child.exitCode !== null ? Promise.reject(new Error(`agent exited: ${agentTail(a, 5)}`)) : undefined), 120_000, 50);
    return { agent: a, readyMs: Date.now() - t0 };
  }

  /** A sandbox set up as a runtime does: a fresh netns, then the chain's ADD. Rejects with cnitool's message. */
  async function sandbox(tag: string, ref: PodRef): Promise<string> {
    const name = netnsName(tag);
    await lab.addNetns(name);
    sandboxes.set(name, ref);
    await lab.cnitool('add', name, ref);
    return name;
  }

  /** A failed sandbox torn down as a runtime does: DEL through the chain, then the netns goes. */
  async function teardown(name: string): Promise<void> {
    const ref = sandboxes.get(name);
    if (ref) await lab.cnitool('del', name, ref).catch(() => undefined);
    sandboxes.delete(name);
    await lab.delNetns(name);
  }

  const rulesOf = async (netns: string): Promise<string> => lab.iptablesSave(netns);

  before(async function () {
    if (unavailable) this.skip();
    lab = new CniLab({ octet: 70 });
    await lab.init();
    lab.writePrimary();
    agentKubeconfig = await lab.configureAgent(e2e.kubeconfig, CNI_VALUES);
    c = await kubeClient(e2e.kubeconfig);
    await createNamespace(c, ns);
    await startAgent();
    // A peer without a sidecar: no rules, a TCP listener that tells whether a pod's connection was redirected.
    const peerRef = await createPod(c, podManifest(ns, 'peer', { sidecar: false }));
    peer = await sandbox('peer', peerRef);
    peerIp = await lab.ipOf(peer);
    await lab.listen(peer, 'PEER', [9090]);
  });

  after(async function () {
    if (unavailable) return;
    this.timeout(300_000);
    await lab?.stopAgent(agent);
    for (const [name, ref] of sandboxes) await lab?.cnitool('del', name, ref).catch(() => undefined);
    await lab?.cleanup();
    if (c) {
      await c.delete(R.namespace, ns).catch(() => undefined);
      c.close();
    }
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    // Every agent's whole log in a file, the last one's tail here.
    const file = path.join(os.tmpdir(), `mizzen-reliability-cni-agents-${id}.log`);
    fs.writeFileSync(file, agents.map((a, i) => `# agent ${i + 1}\n${agentTail(a, Infinity)}\n`).join(''));
    console.log(`      agent log tail (every agent's log: ${file}):\n${agentTail(agent, 40)}`);
  });

  it(`agent SIGKILLed and SIGTERMed while ${PODS} pods are created: each pod ends with its rules, none runs without them after a successful ADD through the plugin, existing pods untouched`, async () => {
    // Pods that exist before the faults, and their rules.
    const existing = Array.from({ length: 5 }, (_, i) => netnsName(`old${i}`));
    await pool([0, 1, 2, 3, 4], PARALLEL, async (i) => void (await sandbox(`old${i}`, await createPod(c, podManifest(ns, `old-${i}`)))));
    for (const n of existing) await waitFor(`rules in ${n}`, async () => (await lab.ourChains(n)).includes('ISTIO_OUTPUT'), 30_000, 100);
    reference = await rulesOf(existing[0] ?? '');
    const before = new Map<string, string>();
    for (const n of existing) before.set(n, await rulesOf(n));
    for (const n of existing) expect(before.get(n), `${n}: the same rules as the others`).to.equal(reference);

    // The pods, bound to the node before the runtime sets up their sandboxes (as the scheduler and kubelet do).
    for (let i = 0; i < PODS; i++) runs.push({ name: `new-${i}`, netns: '', retries: 0, startedAt: 0 });
    await pool(runs, PARALLEL, async (r) => void (r.ref = await createPod(c, podManifest(ns, r.name))));

    const counts = { succeeded: 0, inFlight: 0 };
    const failures11: string[] = [];
    const createAll = pool(runs, PARALLEL, async (r) => {
      const ref = r.ref as PodRef;
      r.startedAt = Date.now();
      for (let attempt = 0, backoff = 200; ; attempt++, backoff = Math.min(backoff * 2, 2000)) {
        const tag = `n${r.name.slice(4)}a${attempt}`;
        counts.inFlight++;
        try {
          r.netns = await sandbox(tag, ref);
          r.succeededAt = Date.now();
          // What a pod's first instant looks like: rules there, or (set up without our plugin) none.
          r.chainsAfterAdd = await lab.ourChains(r.netns);
          r.chain = lab.cachedChain(r.netns);
          counts.succeeded++;
          return;
        } catch (err) {
          const msg = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
          if (!RETRYABLE.test(msg) || Date.now() - r.startedAt > 120_000) {
            r.otherError = msg;
            return;
          }
          failures11.push(msg);
          r.retries++;
          await teardown(netnsName(tag));
          await sleep(backoff);
        } finally {
          counts.inFlight--;
        }
      }
    });

    // The faults, while the ADDs run: SIGKILL (the socket file stays, our entry stays in the chain), then
    // SIGTERM (install-cni takes our entry out first), each followed by a new agent, as the DaemonSet does.
    const restarts: string[] = [];
    const faults = (async () => {
      for (const [signal, after] of [
        ['SIGKILL', Math.floor(PODS * 0.2)],
        ['SIGTERM', Math.floor(PODS * 0.5)],
      ] as const) {
        await waitFor(`${after} pods set up`, () => counts.succeeded >= after || runs.every((r) => r.succeededAt || r.otherError), 180_000, 10);
        const old = agent as AgentProcess;
        const inFlight = counts.inFlight;
        const setUp = counts.succeeded;
        // Its refused requests, for the last case (what it sends between this read and the signal: its log only).
        old.refusedAtStop = await refusedRequests(old).catch(() => undefined);
        const t0 = Date.now();
        old.child.kill(signal);
        const code = await old.exited;
        const gone = Date.now() - t0;
        const { agent: next, readyMs } = await startAgent();
        // How long the chain was without our entry: from the old agent's uninstall to the new one's insert.
        const at = (a: AgentProcess, message: string): number => {
          const ts = a.logs.find((l) => l.message === message)?.timestamp;
          return typeof ts === 'string' ? Date.parse(ts) : NaN;
        };
        const gap = signal === 'SIGTERM' ? ` (our entry out of the chain for ${at(next, 'Became ready') - at(old, 'Removed mizzen-cni from the CNI configuration')} ms)` : '';
        restarts.push(`${signal} with ${inFlight} ADDs in flight (${setUp} pods set up): exited ${code === null ? 'by the signal' : `with ${code}`} after ${gone} ms, the next agent ready ${readyMs} ms later${gap}`);
      }
    })();
    await Promise.all([createAll, faults]);

    // Every pod: rules equal to the reference; those set up without our plugin (the SIGTERM gap) are repaired by
    // the agent; the time is measured from the ADD's success.
    const t0 = Date.now();
    await pool(runs, 4, async (r) => {
      if (r.otherError) return;
      await waitFor(`${r.name} (${r.netns}) with its rules`, async () => (await rulesOf(r.netns)) === reference, 60_000, 200).then(
        () => (r.rulesAt = Date.now()),
        () => undefined,
      );
    });
    const settled = Date.now() - t0;
    const ruleless = runs.filter((r) => !r.otherError && r.rulesAt === undefined).map((r) => `${r.name} (${r.netns}, chain ${r.chain?.join(',') ?? '?'})`);

    const through = runs.filter((r) => r.chain?.includes('mizzen-cni'));
    const without = runs.filter((r) => r.chain !== undefined && !r.chain.includes('mizzen-cni'));
    const retried = runs.filter((r) => r.retries > 0);
    const unprogrammed = through.filter((r) => !r.chainsAfterAdd?.includes('ISTIO_OUTPUT')).map((r) => `${r.name}: ${r.chainsAfterAdd?.join(',') ?? '?'}`);
    const addMs = runs.filter((r) => r.succeededAt).map((r) => (r.succeededAt ?? 0) - r.startedAt);
    console.log(`      ${restarts.join('\n      ')}`);
    console.log(
      `      ${PODS} pods: ${through.length} set up through mizzen-cni (${retried.length} of them after ${failures11.length} ADDs failed with code 11, up to ${Math.max(0, ...runs.map((r) => r.retries))} for one pod), ${without.length} while our entry was out of the chain (SIGTERM), ${runs.filter((r) => r.otherError).length} other failures`,
    );
    console.log(`      set-up time (first ADD to the successful one): ${figures(addMs)}; retried pods: ${figures(retried.map((r) => (r.succeededAt ?? 0) - r.startedAt))}`);
    console.log(`      pods set up without our plugin had rules ${figures(without.filter((r) => r.rulesAt).map((r) => (r.rulesAt ?? 0) - (r.succeededAt ?? 0)))} after their ADD (repair, drift interval ${DRIFT_INTERVAL_MS} ms); all pods with rules ${settled} ms after the last ADD; load average ${load()}`);
    expect(ruleless, 'pods without their rules 60 s after the last ADD').to.deep.equal([]);
    expect(runs.filter((r) => r.otherError).map((r) => `${r.name}: ${r.otherError ?? ''}`), 'ADDs failed with other than code 11').to.deep.equal([]);
    expect(unprogrammed, 'pods whose ADD through mizzen-cni returned success without rules').to.deep.equal([]);
    expect(through.length + without.length, 'pods set up').to.equal(PODS);
    expect(failures11.length, 'ADDs that failed with code 11 while an agent was down').to.be.above(0);

    // Real TCP: a pod's outbound connection goes to its own port 15001 (nothing listens there: refused), not to the
    // peer; the proxy's UID 1337 reaches the peer.
    const dials: string[] = [];
    await pool(runs, PARALLEL, async (r) => {
      const out = await lab.dial(r.netns, peerIp, 9090, 1000);
      if (out !== 'ERR ECONNREFUSED') dials.push(`${r.name}: ${out}`);
    });
    expect(dials, 'outbound TCP of pods not redirected').to.deep.equal([]);
    const sample = [through.find((r) => r.retries > 0), without[0], through[0]].filter((r): r is PodRun => r !== undefined);
    for (const [i, r] of sample.entries()) {
      await lab.listen(r.netns, `S${i}`, [15001]);
      expect(await lab.dial(r.netns, peerIp, 9090, 1000), `${r.name} redirected`).to.equal(`S${i}:15001`);
      expect(await lab.dial(r.netns, peerIp, 9090, 1337), `${r.name}: the proxy bypasses`).to.equal('PEER:9090');
    }

    // The pods that existed before: untouched, byte for byte.
    for (const n of existing) expect(await rulesOf(n), `${n} after the restarts`).to.equal(before.get(n));
  });

  it('restores a pod’s flushed ISTIO_* chains within the drift check interval', async () => {
    const flushes: string[][] = [['-F', 'ISTIO_OUTPUT'], ['-F', 'ISTIO_INBOUND'], ['-F', 'ISTIO_REDIRECT'], ['-F', 'ISTIO_IN_REDIRECT'], ['-F', 'ISTIO_OUTPUT', '-F', 'ISTIO_INBOUND', '-F', 'ISTIO_REDIRECT', '-F', 'ISTIO_IN_REDIRECT']];
    const targets = runs.filter((r) => r.rulesAt !== undefined).slice(0, 5);
    expect(targets.length, 'pods from the previous case').to.be.above(0);
    const restoredBefore = await metricSum(agent as AgentProcess, 'mizzen_cni_repairs_total', { action: 'restore' });
    const took: number[] = [];
    for (const [i, r] of targets.entries()) {
      const args = flushes[i % flushes.length] ?? [];
      // iptables takes one command at a time: a flush of several chains is several commands.
      const t0 = Date.now();
      for (let j = 0; j < args.length; j += 2) await sh('ip', ['netns', 'exec', r.netns, 'iptables', '-t', 'nat', args[j] ?? '', args[j + 1] ?? '']);
      expect(await rulesOf(r.netns), `${r.name}: the flush took effect`).not.to.equal(reference);
      await waitFor(`${r.name} restored`, async () => (await rulesOf(r.netns)) === reference, 60_000, 50);
      took.push(Date.now() - t0);
    }
    const restored = (await metricSum(agent as AgentProcess, 'mizzen_cni_repairs_total', { action: 'restore' })) - restoredBefore;
    console.log(`      ${targets.length} flushes restored: ${figures(took)} (${took.join(", ")}); drift interval ${DRIFT_INTERVAL_MS} ms; ${restored} restores counted; load average ${load()}`);
    expect(restored, 'restores the agent counted').to.be.at.least(targets.length);
    // The check interval, with room for a loaded machine (a round's reads of every pod's fingerprint).
    for (const t of took) expect(t).to.be.at.most(DRIFT_INTERVAL_MS + 8000);
    const r = targets[0] as PodRun;
    await lab.listen(r.netns, 'FLUSHED', [15001]).catch(() => undefined); // may listen from the first case already
    expect(await lab.dial(r.netns, peerIp, 9090, 1000)).to.match(/:15001$/);
  });

  it(`puts its entry back each time the primary CNI rewrites its conflist (${REWRITES}×); uninstall leaves the primary’s last write byte for byte`, async () => {
    const a = agent as AgentProcess;
    const file = path.join(lab.confDir, '10-mz-e2e.conflist');
    const insertsBefore = await metricSum(a, 'mizzen_cni_config_inserts_total');
    // The primary's installer writes its file fresh each time (not a rename), in one of a few formattings, so that
    // "byte for byte" means the last write and not any earlier one.
    const formats = [(o: unknown) => JSON.stringify(o, null, 2), (o: unknown) => `${JSON.stringify(o)}\n`, (o: unknown) => `${JSON.stringify(o, null, 4)}\n`];
    const primary = lab.primaryConfig();
    const bridge = JSON.stringify((primary.plugins as unknown[])[0]);
    const took: number[] = [];
    let last = '';
    for (let i = 0; i < REWRITES; i++) {
      last = formats[i % formats.length]?.(primary) ?? '';
      const t0 = Date.now();
      fs.writeFileSync(file, last);
      await waitFor(
        `our entry back after rewrite ${i + 1}`,
        () => {
          const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { plugins: { type: string }[] };
          return doc.plugins.length === 2 && doc.plugins[1]?.type === 'mizzen-cni' && JSON.stringify(doc.plugins[0]) === bridge;
        },
        30_000,
        5,
      );
      took.push(Date.now() - t0);
    }
    // The counter moves just after the rename the loop saw.
    const inserts = await waitFor(`${REWRITES} inserts counted`, async () => {
      const n = (await metricSum(a, 'mizzen_cni_config_inserts_total')) - insertsBefore;
      return n >= REWRITES ? n : undefined;
    }, 10_000, 100).catch(async () => (await metricSum(a, 'mizzen_cni_config_inserts_total')) - insertsBefore);
    console.log(`      ${REWRITES} rewrites, entry back: ${figures(took)}; ${inserts} inserts counted; load average ${load()}`);
    expect(inserts).to.be.at.least(REWRITES);
    for (const t of took) expect(t).to.be.at.most(5000);

    await lab.stopAgent(a);
    expect(a.logs.some((l) => l.message === 'Removed mizzen-cni from the CNI configuration')).to.equal(true);
    expect(fs.readFileSync(file, 'utf8')).to.equal(last);
    expect(fs.readdirSync(lab.confDir).sort()).to.deep.equal(['10-mz-e2e.conflist']);
  });

  it('every agent ran with exactly its rendered RBAC (a ServiceAccount token): no request refused, the token in no log line', async () => {
    await expectRenderedIdentity(lab);
  });
});
