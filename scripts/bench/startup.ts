import fs from 'node:fs';
import os from 'node:os';
import { clusterDown, clusterUp, installCrds, repoRoot, waitFor } from '../../test/e2e/lib/cluster.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { collectJsonLogs } from '../../test/e2e/lib/operator.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const cluster = process.env.BENCH_CLUSTER ?? 'bench-startup';
const clockTicks = 100; // USER_HZ on Linux

interface Sample {
  readyMs: number;
  cpuMs: number;
  rssMiB: number;
}

/** utime + stime of a process, from /proc/PID/stat. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

let hungShutdowns = 0;

async function once(kubeconfig: string, mode: 'dist' | 'tsx'): Promise<Sample> {
  const start = performance.now();
  const child = spawn(path.join(repoRoot, 'bin/mizzen'), ['operator', '--kubeconfig', kubeconfig, '--log-format', 'json', '--probe-addr', '127.0.0.1:0', '--no-leader-elect'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MIZZEN_CLI: mode },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const logs = collectJsonLogs(child.stderr);
  try {
    // Generous timeouts: the machine is shared, and the figure is the point, not a limit.
    const started = await waitFor('the probe server', () => logs.find((l) => l.message === 'Started probe server'), 600_000, 20);
    const url = `http://${String(started.address)}/readyz`;
    await waitFor('the operator to be ready', async () => (await fetch(url).catch(() => undefined))?.status === 200, 600_000, 20);
    const readyMs = performance.now() - start;
    const pid = child.pid ?? 0;
    return { readyMs, cpuMs: cpuMs(pid), rssMiB: rssMiB(pid) };
  } finally {
    child.kill('SIGTERM');
    const timer = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 30_000).unref());
    if ((await Promise.race([exited.then(() => 'exited'), timer])) === 'timeout') {
      hungShutdowns++;
      child.kill('SIGKILL');
      await exited;
    }
  }
}

function stats(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `p50 ${(s[Math.ceil(s.length / 2) - 1] ?? NaN).toFixed(0).padStart(6)}   max ${(s[s.length - 1] ?? NaN).toFixed(0).padStart(6)}`;
}

async function main(): Promise<void> {
  const kubeconfig = await clusterUp(cluster);
  try {
    await installCrds(kubeconfig);
    console.log(`operator cold start, ${runs} starts each (--no-leader-elect, all controllers), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    for (const mode of ['dist', 'tsx'] as const) {
      const samples: Sample[] = [];
      for (let i = 0; i < runs; i++) samples.push(await once(kubeconfig, mode));
      console.log(`  ${mode.padEnd(4)} spawn → /readyz 200 (ms)  ${stats(samples.map((s) => s.readyMs))}`);
      console.log(`  ${mode.padEnd(4)} CPU until ready (ms)      ${stats(samples.map((s) => s.cpuMs))}`);
      console.log(`  ${mode.padEnd(4)} RSS when ready (MiB)      ${stats(samples.map((s) => s.rssMiB))}`);
    }
    console.log(`  starts whose SIGTERM shutdown took over 30 s (then SIGKILL): ${hungShutdowns}`);
    console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
