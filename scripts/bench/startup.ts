import fs from 'node:fs';
import os from 'node:os';
import { clusterDown, clusterUp, installCrds, waitFor } from '../../test/e2e/lib/cluster.js';
import { startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../../test/e2e/lib/operator.js';

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

async function once(kubeconfig: string, mode: 'dist' | 'tsx'): Promise<Sample> {
  const start = performance.now();
  let op: OperatorProcess | undefined;
  try {
    op = await startOperatorProcess(kubeconfig, ['--no-leader-elect'], { MIZZEN_CLI: mode });
    const url = `${op.probeUrl}/readyz`;
    await waitFor('the operator to be ready', async () => (await fetch(url).catch(() => undefined))?.status === 200, 120_000, 20);
    const readyMs = performance.now() - start;
    const pid = op.child.pid ?? 0;
    return { readyMs, cpuMs: cpuMs(pid), rssMiB: rssMiB(pid) };
  } finally {
    await stopOperatorProcess(op);
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
    console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
