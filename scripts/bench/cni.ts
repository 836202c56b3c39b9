// Benchmark of the CNI path on real network namespaces: what a container runtime waits for when it runs
// mizzen-cni's ADD (process start of the self-contained executable, one socket round trip to the agent, the
// agent's decision from its pod cache, iptables-save + iptables-restore in the pod's netns), per pod, for
// sequential pods and for concurrent ones. The primary CNI (bridge + host-local, via cnitool) runs first for each
// pod and is timed separately for scale. Processes per ADD: the plugin itself plus what the agent spawned
// (from its metrics).
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { clusterDown, clusterUp } from '../../test/e2e/lib/cluster.js';
import { CniLab, createPod, metricSum, podManifest } from '../../test/e2e/cni/lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 200);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 8);
const cluster = process.env.BENCH_CLUSTER ?? 'bench-cni';
const ns = 'mz-bench-cni';

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function summary(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `  ${label.padEnd(44)} p50 ${pct(s, 50).toFixed(0).padStart(5)} ms   p99 ${pct(s, 99).toFixed(0).padStart(5)} ms   max ${pct(s, 100).toFixed(0).padStart(5)} ms   (n=${s.length})`;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function main(): Promise<void> {
  const kubeconfig = await clusterUp(cluster);
  const client = await KubeClient.create(KubeClient.loadConfig(kubeconfig));
  const lab = new CniLab({ octet: 50 });
  let agent: Awaited<ReturnType<CniLab['startAgent']>> | undefined;
  const netns = (i: number): string => `mz-bench-${i}`;
  const pods: { namespace: string; name: string; uid: string }[] = [];
  try {
    await lab.init();
    lab.writePrimary();
    const primaryDir = `${lab.dir}/primary.d`;
    await import('node:fs').then((fs) => {
      fs.mkdirSync(primaryDir);
      fs.writeFileSync(`${primaryDir}/10-mz-e2e.conflist`, JSON.stringify(lab.primaryConfig()));
    });
    await client.delete(R.namespace, ns).catch(() => undefined);
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => undefined);
    lab.writeAgentConfig({ 'repair.enabled': 'false' });
    const running = await lab.startAgent(kubeconfig, ['--drift-interval', '60m', '--log-level', 'info']);
    agent = running;
    for (let i = 0; i < PODS; i++) pods.push(await createPod(client, podManifest(ns, `bench-${i}`)));
    const primary: number[] = [];
    const results: unknown[] = [];
    for (let i = 0; i < PODS; i++) {
      await lab.addNetns(netns(i));
      const [out, ms] = await timed(() => lab.cnitool('add', netns(i), pods[i], primaryDir));
      primary.push(ms);
      results.push(JSON.parse(out));
    }
    const add = async (i: number): Promise<number> => {
      const [res, ms] = await timed(() => lab.execPlugin('ADD', netns(i), pods[i] ?? { namespace: '', name: '' }, results[i]));
      if (res.code !== 0) throw new Error(`ADD of ${netns(i)} failed: ${res.stdout}${res.stderr}`);
      return ms;
    };
    const agentMs = async (): Promise<[number, number]> => [
      (await metricSum(running, 'mizzen_cni_request_duration_seconds_sum', { command: 'ADD' })) * 1000,
      await metricSum(running, 'mizzen_cni_request_duration_seconds_count', { command: 'ADD' }),
    ];
    const meanSince = async ([ms0, n0]: [number, number]): Promise<string> => {
      const [ms1, n1] = await agentMs();
      return ((ms1 - ms0) / Math.max(1, n1 - n0)).toFixed(0);
    };
    const a0 = await agentMs();
    const spawns0 = await metricSum(running, 'mizzen_cni_spawns_total', { cause: 'add' });
    const sequential: number[] = [];
    for (let i = 0; i < PODS; i++) sequential.push(await add(i));
    const spawnsSeq = ((await metricSum(running, 'mizzen_cni_spawns_total', { cause: 'add' })) - spawns0) / PODS;
    const agentSeq = await meanSince(a0);
    // Back to a netns without rules (the agent's DEL cleanup), so that the concurrent ADDs program from scratch.
    for (let i = 0; i < PODS; i++) await lab.execPlugin('DEL', netns(i), pods[i] ?? { namespace: '', name: '' }, results[i]);
    const spawns1 = await metricSum(running, 'mizzen_cni_spawns_total', { cause: 'add' });
    const a1 = await agentMs();
    const parallel: number[] = [];
    for (let i = 0; i < PODS; i += PARALLEL) {
      const batch = Array.from({ length: Math.min(PARALLEL, PODS - i) }, (_, k) => i + k);
      parallel.push(...(await Promise.all(batch.map(add))));
    }
    const spawnsPar = ((await metricSum(running, 'mizzen_cni_spawns_total', { cause: 'add' })) - spawns1) / PODS;
    const agentPar = await meanSince(a1);
    const again = await add(0);
    const spawnsAgain = (await metricSum(running, 'mizzen_cni_spawns_total', { cause: 'add' })) - spawns1 - spawnsPar * PODS;
    console.log(`cni bench (${PODS} pods on real network namespaces, ${PARALLEL} concurrent ADDs per round; node ${process.version}, load ${(await import('node:os')).loadavg()[0]?.toFixed(1) ?? ''})`);
    console.log(summary('primary CNI ADD (bridge + host-local, cnitool)', primary));
    console.log(summary('mizzen-cni ADD, sequential pods', sequential));
    console.log(summary(`mizzen-cni ADD, ${PARALLEL} in parallel`, parallel));
    console.log(`  of which in the agent (mean; socket to answer) ${agentSeq} ms sequential, ${agentPar} ms in parallel; the rest is the plugin process`);
    console.log(`  a repeated ADD of a programmed pod           ${again.toFixed(0)} ms`);
    console.log(`  processes per ADD: 1 (mizzen-cni, no children) + ${spawnsSeq.toFixed(2)} by the agent sequential, ${spawnsPar.toFixed(2)} in parallel (iptables-save + iptables-restore); ${spawnsAgain} for a repeated ADD`);
  } finally {
    if (agent) await lab.stopAgent(agent);
    for (let i = 0; i < pods.length; i++) await lab.cnitool('del', netns(i), pods[i], `${lab.dir}/primary.d`).catch(() => undefined);
    await lab.cleanup();
    await client.delete(R.namespace, ns).catch(() => undefined);
    client.close();
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
