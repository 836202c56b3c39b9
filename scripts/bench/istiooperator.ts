// Benchmark of the IstioOperator controller on a real local cluster: apply-to-HEALTHY time of the seed
// (p50/max over BENCH_RUNS installs), API writes per idle minute, and the operator's resident memory.
import fs from 'node:fs';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { clusterDown, clusterUp, installCrds, kubectl, repoRoot, waitFor } from '../../test/e2e/lib/cluster.js';
import { startOperatorProcess, stopOperatorProcess } from '../../test/e2e/lib/operator.js';

const runs = Number(process.env.BENCH_RUNS ?? 10);
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const cluster = process.env.BENCH_CLUSTER ?? 'bench-iop';
const seed = path.join(repoRoot, 'config/samples/install_v1alpha1_istiooperator_seed.yaml');

interface Iop extends KubernetesObject {
  status?: { status?: string; conditions?: { type: string; observedGeneration?: number }[] };
}

function rssMiB(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.replace(/\D+/g, '') ?? 0) / 102.4) / 10;
}

async function writes(probeUrl: string): Promise<number> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => /^mizzen_api_requests_total\{verb="(POST|PUT|PATCH|DELETE)"/.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  const kubeconfig = await clusterUp(cluster);
  let op;
  try {
    await installCrds(kubeconfig);
    await kubectl(kubeconfig, ['create', 'namespace', 'istio-system']).catch(() => undefined);
    const client = await KubeClient.create(KubeClient.loadConfig(kubeconfig));
    op = await startOperatorProcess(kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator']);
    const healthy = async (): Promise<boolean> => {
      const o = await client.get<Iop>(R.istioOperator, 'example-istiocontrolplane', 'istio-system');
      return o?.status?.status === 'HEALTHY' && o.status.conditions?.find((c) => c.type === 'Ready')?.observedGeneration === o.metadata?.generation;
    };
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await kubectl(kubeconfig, ['apply', '--server-side', '-f', seed]);
      await waitFor('HEALTHY', healthy, 120_000, 20);
      times.push(performance.now() - t0);
      if (i < runs - 1) await kubectl(kubeconfig, ['delete', '-f', seed, '--timeout=120s']);
    }
    times.sort((a, b) => a - b);
    const rssAfterInstall = rssMiB(op.child.pid!);
    const w0 = await writes(op.probeUrl);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleWrites = ((await writes(op.probeUrl)) - w0) * (60 / idleSeconds);
    const rssIdle = rssMiB(op.child.pid!);
    console.log(`istiooperator bench (${runs} installs of the seed; kube-apiserver v1.36.3, 2 kwok nodes)`);
    console.log(`  apply→HEALTHY     p50 ${pct(times, 50).toFixed(0)} ms   p90 ${pct(times, 90).toFixed(0)} ms   max ${pct(times, 100).toFixed(0)} ms`);
    console.log(`  idle API writes   ${idleWrites.toFixed(1)} per minute (measured over ${idleSeconds} s)`);
    console.log(`  operator RSS      ${rssAfterInstall} MiB after installs, ${rssIdle} MiB after idling`);
    await kubectl(kubeconfig, ['delete', '-f', seed, '--timeout=120s']);
    client.close();
  } finally {
    await stopOperatorProcess(op);
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
