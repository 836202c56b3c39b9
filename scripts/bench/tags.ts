// Benchmark of a revision tag move on a real local cluster: from the start of `tag set` (the CLI's own code,
// in process: preflight reads and the RevisionTag apply) to the moment the kube-apiserver sends a new pod to the
// new revision's injector (seen by server-side dry-run pod creates, which run the webhooks). Split into: tag set
// itself, RevisionTag written → MutatingWebhookConfiguration updated (the controller; seen by a watch), and
// webhook updated → the API server calling the new revision (its webhook configuration cache). One move through the CLI as a
// separate process (tsx start-up included) is timed on its own.
import type { KubernetesObject } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '../../operator/src/kube/client.js';
import { R } from '../../operator/src/kube/resources.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { setTag, TAG_CLI_FIELD_MANAGER, type TagIO } from '../../operator/src/cli/tag.js';
import { clusterDown, clusterUp, installCrds, repoRoot, waitFor } from '../../test/e2e/lib/cluster.js';
import { startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../../test/e2e/lib/operator.js';
import { TagLab } from '../../test/e2e/revisiontag/lab.js';

const exec = promisify(execFile);
const moves = Number(process.env.BENCH_MOVES ?? 50);
const cluster = process.env.BENCH_CLUSTER ?? 'bench-tags';
const ns = 'bench-tags-system';
const app = 'bench-app';
const revisions = ['1-7-6', '1-8-3'] as const;
const quiet: TagIO = { out: () => undefined, err: () => undefined, confirm: () => Promise.resolve(true) };

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function line(label: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (n: number): string => `${n.toFixed(0)} ms`.padStart(8);
  return `  ${label.padEnd(44)} p50 ${f(pct(s, 50))}   p99 ${f(pct(s, 99))}   max ${f(pct(s, 100))}`;
}

/** Polls until fn is true; resolves with the time it first was. */
async function when(fn: () => Promise<boolean>, intervalMs: number): Promise<number> {
  await waitFor('the move', async () => (await fn()) || undefined, 60_000, intervalMs);
  return performance.now();
}

async function main(): Promise<void> {
  const kubeconfig = await clusterUp(cluster);
  let op: OperatorProcess | undefined;
  let lab: TagLab | undefined;
  try {
    await installCrds(kubeconfig);
    lab = new TagLab(kubeconfig, ns);
    await lab.open();
    op = await startOperatorProcess(kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator,revisiontag']);
    for (const rev of revisions) await lab.installRevision(rev);
    for (const rev of revisions) await lab.patchCaBundle(rev, lab.pki.caBundle);
    await lab.ensureNamespace(app, { 'istio.io/rev': 'prod-stable' });
    const cli = await KubeClient.create(KubeClient.loadConfig(kubeconfig), TAG_CLI_FIELD_MANAGER);
    const l = lab;
    // The tag webhook's revision changes, seen by a watch (no polling load on the API server).
    const changes: { revision: string; at: number }[] = [];
    const watch = new Informer<KubernetesObject>(R.mutatingWebhook, l.client, silentLogger(), { labelSelector: 'istio.io/tag=prod-stable' });
    watch.on((_type, obj) => changes.push({ revision: obj.metadata?.labels?.['istio.io/rev'] ?? '', at: performance.now() }));
    watch.start();
    await watch.waitForSync();
    await setTag(cli, { tag: 'prod-stable', revision: revisions[0], namespace: ns, overwrite: true, yes: true, waitMs: 60_000 }, quiet);

    const total: number[] = [];
    const cliPart: number[] = [];
    const controller: number[] = [];
    const apiserver: number[] = [];
    for (let i = 1; i <= moves; i++) {
      const target = revisions[i % 2] ?? revisions[0];
      const t0 = performance.now();
      const serving = when(async () => (await l.servingRevision(app)) === target, 2);
      await setTag(cli, { tag: 'prod-stable', revision: target, namespace: ns, overwrite: true, yes: true, waitMs: 0 }, quiet);
      const tWritten = performance.now();
      const tServing = await serving;
      const tUpdated = await when(() => Promise.resolve(changes.some((c) => c.at >= t0 && c.revision === target)), 5).then(() => changes.find((c) => c.at >= t0 && c.revision === target)?.at ?? NaN);
      total.push(tServing - t0);
      cliPart.push(tWritten - t0);
      controller.push(tUpdated - tWritten);
      apiserver.push(Math.max(0, tServing - tUpdated));
    }

    const target = revisions[(moves + 1) % 2] ?? revisions[0];
    const t0 = performance.now();
    await exec(path.join(repoRoot, 'bin/mizzen'), ['tag', 'set', 'prod-stable', '--revision', target, '--overwrite', '-y', '-n', ns], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    await when(async () => (await l.servingRevision(app)) === target, 2);
    const processMove = performance.now() - t0;

    console.log(`revision tag bench: ${moves} moves of prod-stable between ${revisions.join(' and ')} (kube-apiserver v1.36.3, webhooks on loopback)`);
    console.log(line('tag set → API server calls the new revision', total));
    console.log(line('  tag set (preflight reads + apply)', cliPart));
    console.log(line('  RevisionTag written → webhook updated', controller));
    console.log(line('  webhook updated → API server calls it', apiserver));
    console.log(`  one move with bin/mizzen as a process (tsx start-up included): ${processMove.toFixed(0)} ms`);
    const rank = Math.ceil(0.99 * moves);
    console.log(`  (p99 of ${moves} samples is the ${rank === moves ? 'largest' : `${rank}th smallest`}; each poll is one dry-run pod create, every ~2 ms)`);
    await l.client.delete(R.revisionTag, 'prod-stable', ns);
    await waitFor('the tag to go', async () => !(await l.client.get(R.revisionTag, 'prod-stable', ns)), 30_000, 100);
    await watch.stop();
    cli.close();
  } finally {
    await lab?.close();
    await stopOperatorProcess(op);
    if (process.env.BENCH_KEEP !== '1') await clusterDown(cluster);
  }
}

await main();
