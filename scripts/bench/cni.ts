// Benchmark of the CNI path on real network namespaces: what a container runtime waits for when it runs
// mizzen-cni's ADD — the static plugin's start, one socket exchange with the agent (its decision from the pod
// cache and the program), the plugin entering the pod's netns and running the program (one iptables-restore for
// a fresh IPv4 pod) — per pod, for sequential pods, concurrent ones and repeated ADDs. The plugin is started by
// dist/cnispawn, a Go parent that forks/execs it like libcni (a Node parent would add its own fork time). The
// primary CNI (bridge + host-local, via cnitool) runs first for each pod and is timed separately for scale.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { clusterDown, clusterUp, repoRoot } from '../../test/e2e/lib/cluster.js';
import { type AgentProcess, CniLab, createPod, metricSum, podManifest } from '../../test/e2e/cni/lib.js';

const PODS = Number(process.env.BENCH_PODS ?? 200);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 8);
const REPEAT = Math.min(PODS, Number(process.env.BENCH_REPEAT ?? 50));
/** How long the agent's idle CPU is measured before the ADDs. */
const IDLE_MS = 10_000;
const cluster = process.env.BENCH_CLUSTER ?? 'bench-cni';
/** Another build of the plugin to compare with, in the same run: alternating passes of both over the same pods. */
const BASELINE = process.env.BENCH_BASELINE;
const PASSES = Number(process.env.BENCH_PASSES ?? 2);
const ns = 'mz-bench-cni';

interface Sample {
  index: number;
  wallMs: number;
  cpuMs: number;
  code: number;
  stdout: string;
  stderr: string;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

function line(label: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (v: number): string => v.toFixed(1).padStart(6);
  return `  ${label.padEnd(46)} p50 ${f(pct(s, 50))} ms   p99 ${f(pct(s, 99))} ms   max ${f(pct(s, 100))} ms   (n=${s.length})`;
}

function load(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

/** Runs the jobs through cnispawn, `parallel` at a time. */
async function spawnJobs(jobs: { exe: string; env: Record<string, string>; stdin: string }[], parallel: number): Promise<Sample[]> {
  const child = spawn(path.join(repoRoot, 'dist/cnispawn'), ['-parallel', String(parallel)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdin.end(JSON.stringify(jobs));
  const code = await done;
  if (code !== 0) throw new Error(`cnispawn exited ${code}`);
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Sample);
}

interface AgentCounters {
  addSeconds: number;
  adds: number;
  programSeconds: number;
  pluginSpawns: number;
  agentSpawns: number;
  cpuSeconds: number;
  /** performance.now() when read. */
  at: number;
}

async function counters(agent: AgentProcess, command = 'ADD'): Promise<AgentCounters> {
  return {
    addSeconds: await metricSum(agent, 'mizzen_cni_request_duration_seconds_sum', { command }),
    adds: await metricSum(agent, 'mizzen_cni_request_duration_seconds_count', { command }),
    programSeconds: await metricSum(agent, 'mizzen_cni_program_seconds_total', { command }),
    pluginSpawns: await metricSum(agent, 'mizzen_cni_spawns_total', { cause: command.toLowerCase(), by: 'plugin' }),
    agentSpawns: await metricSum(agent, 'mizzen_cni_spawns_total', { by: 'agent' }),
    cpuSeconds: await metricSum(agent, 'mizzen_process_cpu_seconds_total'),
    at: performance.now(),
  };
}

/** The agent's CPU per second while no plugin runs (watch traffic, timers, GC), to tell its per-ADD CPU from it. */
let idleCpuPerSecond = 0;

function share(a: AgentCounters, b: AgentCounters): string {
  const n = Math.max(1, b.adds - a.adds);
  const own = ((b.addSeconds - a.addSeconds - (b.programSeconds - a.programSeconds)) * 1000) / n;
  const cpu = ((b.cpuSeconds - a.cpuSeconds) * 1000) / n;
  const aboveIdle = ((b.cpuSeconds - a.cpuSeconds - (idleCpuPerSecond * (b.at - a.at)) / 1000) * 1000) / n;
  const procs = 1 + (b.pluginSpawns - a.pluginSpawns) / n;
  return `agent's own time ${own.toFixed(1)} ms/ADD (decision, program, socket; excluding the plugin running it), agent CPU ${cpu.toFixed(1)} ms/ADD (${aboveIdle.toFixed(1)} above its idle rate); processes per ADD ${procs.toFixed(2)} (mizzen-cni + what it ran), forked by the agent ${b.agentSpawns - a.agentSpawns}`;
}

function check(samples: Sample[], what: string): void {
  const bad = samples.find((s) => s.code !== 0);
  if (bad) throw new Error(`${what} #${bad.index} failed (${bad.code}): ${bad.stdout}${bad.stderr}`);
}

async function main(): Promise<void> {
  const loadStart = load();
  const kubeconfig = await clusterUp(cluster);
  const client = await KubeClient.create(KubeClient.loadConfig(kubeconfig));
  const lab = new CniLab({ octet: 50 });
  let agent: AgentProcess | undefined;
  const prefix = process.env.BENCH_NETNS_PREFIX ?? `mz-bench-${process.pid % 100000}-`;
  const netns = (i: number): string => `${prefix}${i}`;
  const pods: { namespace: string; name: string; uid: string }[] = [];
  const primaryDir = `${lab.dir}/primary.d`;
  try {
    await lab.init();
    lab.writePrimary();
    fs.mkdirSync(primaryDir);
    fs.writeFileSync(`${primaryDir}/10-mz-e2e.conflist`, JSON.stringify(lab.primaryConfig()));
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
    const list = JSON.parse(fs.readFileSync(path.join(lab.confDir, '10-mz-e2e.conflist'), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    const entry = list.plugins.find((p) => p.type === 'mizzen-cni');
    const exe = path.join(lab.binDir, 'mizzen-cni');
    const job = (command: string, i: number, plugin = exe): { exe: string; env: Record<string, string>; stdin: string } => {
      const pod = pods[i] ?? { namespace: '', name: '', uid: '' };
      return {
        exe: plugin,
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: `mz-bench-${i}`,
          CNI_NETNS: `/run/netns/${netns(i)}`,
          CNI_IFNAME: 'eth0',
          CNI_PATH: `${lab.binDir}:/usr/lib/cni`,
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_UID=${pod.uid}`,
        },
        stdin: JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...entry, prevResult: results[i] }),
      };
    };
    const all = (command: string, n = PODS, plugin = exe): ReturnType<typeof job>[] => Array.from({ length: n }, (_, i) => job(command, i, plugin));

    const version = await spawnJobs(Array.from({ length: REPEAT }, () => ({ ...job('VERSION', 0), stdin: '{"cniVersion":"1.0.0"}' })), 1);
    check(version, 'VERSION');

    const idle0 = await counters(running);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle1 = await counters(running);
    idleCpuPerSecond = (idle1.cpuSeconds - idle0.cpuSeconds) / ((idle1.at - idle0.at) / 1000);

    const c0 = await counters(running);
    const sequential = await spawnJobs(all('ADD'), 1);
    check(sequential, 'sequential ADD');
    const c1 = await counters(running);
    const repeated = await spawnJobs(all('ADD', REPEAT), 1);
    check(repeated, 'repeated ADD');
    const c2 = await counters(running);
    // Back to netns without rules (the agent's DEL, through the plugin), so the concurrent ADDs are fresh again.
    check(await spawnJobs(all('DEL'), 1), 'DEL');
    const c3 = await counters(running);
    const parallel = await spawnJobs(all('ADD'), PARALLEL);
    check(parallel, 'parallel ADD');
    const c4 = await counters(running);

    const wall = (s: Sample[]): number[] => s.map((x) => x.wallMs);
    const cpu = (s: Sample[]): number[] => s.map((x) => x.cpuMs);
    const size = fs.statSync(exe).size;
    console.log(`cni bench: ${PODS} pods on real network namespaces, ${PARALLEL} concurrent ADDs per round, ${REPEAT} repeated ADDs`);
    console.log(`  ${os.cpus().length} CPUs; load average at start ${loadStart}, now ${load()}; mizzen-cni ${(size / 1e6).toFixed(1)} MB, started by cnispawn (Go fork/exec, as libcni)`);
    console.log(line('primary CNI ADD (bridge + host-local, cnitool)', primary));
    console.log(line('mizzen-cni VERSION (process start and exit)', wall(version)));
    console.log(line('  CPU (the Go runtime\'s start-up and exit)', cpu(version)));
    console.log(`  the agent idle (${IDLE_MS / 1000} s before the ADDs, ${PODS} pods in its cache): ${(idleCpuPerSecond * 1000).toFixed(1)} ms CPU per second`);
    console.log(line('mizzen-cni ADD, sequential pods', wall(sequential)));
    console.log(line('  CPU (plugin + its children)', cpu(sequential)));
    console.log(`    ${share(c0, c1)}`);
    console.log(line(`mizzen-cni ADD, ${PARALLEL} in parallel`, wall(parallel)));
    console.log(line('  CPU (plugin + its children)', cpu(parallel)));
    console.log(`    ${share(c3, c4)}`);
    console.log(line('mizzen-cni ADD repeated (programmed pod)', wall(repeated)));
    console.log(line('  CPU (plugin + its children)', cpu(repeated)));
    console.log(`    ${share(c1, c2)}`);
    if (BASELINE) await compare(BASELINE);

    /** BENCH_PASSES alternating passes of the baseline and this build (DEL all, sequential ADDs, DEL all, rounds of PARALLEL ADDs). */
    async function compare(baseline: string): Promise<void> {
      const other = path.join(lab.binDir, 'mizzen-cni-baseline');
      fs.copyFileSync(baseline, other);
      fs.chmodSync(other, 0o755);
      const builds = [
        { name: 'baseline', exe: other, size: fs.statSync(other).size },
        { name: 'this build', exe, size: fs.statSync(exe).size },
      ].map((b) => ({ ...b, version: [] as Sample[], sequential: [] as Sample[], parallel: [] as Sample[], loads: [] as string[] }));
      for (let pass = 0; pass < PASSES; pass++) {
        for (const b of builds) {
          b.loads.push(load());
          const v = await spawnJobs(Array.from({ length: REPEAT }, () => ({ ...job('VERSION', 0, b.exe), stdin: '{"cniVersion":"1.0.0"}' })), 1);
          check(v, `${b.name} VERSION`);
          check(await spawnJobs(all('DEL', PODS, b.exe), 1), 'DEL');
          const seq = await spawnJobs(all('ADD', PODS, b.exe), 1);
          check(seq, `${b.name} sequential ADD`);
          check(await spawnJobs(all('DEL', PODS, b.exe), 1), 'DEL');
          const par = await spawnJobs(all('ADD', PODS, b.exe), PARALLEL);
          check(par, `${b.name} parallel ADD`);
          b.version.push(...v);
          b.sequential.push(...seq);
          b.parallel.push(...par);
        }
      }
      console.log(`compared with ${baseline}: ${PASSES} alternating passes of each build over the same ${PODS} pods; load average now ${load()}`);
      for (const b of builds) {
        console.log(`  ${b.name} (${(b.size / 1e6).toFixed(2)} MB; load average at the start of each pass: ${b.loads.join(' | ')})`);
        console.log(line('  VERSION CPU', cpu(b.version)));
        console.log(line('  ADD sequential', wall(b.sequential)));
        console.log(line('    CPU (plugin + its children)', cpu(b.sequential)));
        console.log(line(`  ADD ${PARALLEL} in parallel`, wall(b.parallel)));
        console.log(line('    CPU (plugin + its children)', cpu(b.parallel)));
      }
    }
  } finally {
    if (agent) await lab.stopAgent(agent);
    for (let i = 0; i < pods.length; i++) await lab.cnitool('del', netns(i), pods[i], primaryDir).catch(() => undefined);
    await lab.cleanup();
    await client.delete(R.namespace, ns).catch(() => undefined);
    client.close();
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
