import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { kubectl, repoRoot, waitFor } from '../lib/cluster.js';

const exec = promisify(execFile);
const clusterScript = path.join(repoRoot, 'scripts/cluster');

/** The real-node suite's own cluster (never e2e0/e2e1: it needs --real-nodes at creation). */
export const nodeCluster = {
  name: process.env.MIZZEN_E2E_NODE_CLUSTER ?? 'e2e-node2',
  kubeconfig: '',
};

export const TEST_IMAGE = 'localhost/mizzen/test:1';

/** scripts/cluster with extra environment; resolves with stdout and stderr. */
export async function cluster(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await exec(clusterScript, args, { maxBuffer: 16 << 20, timeout: 45 * 60_000, env: { ...process.env, ...env } });
  return { stdout: stdout.trim(), stderr };
}

/** Runs a command in real node 0's network and mount namespaces (crictl, ctr, iptables, ip). */
export async function nodeExec(cmd: string[]): Promise<string> {
  const { stdout } = await exec(clusterScript, ['node-exec', nodeCluster.name, '0', ...cmd], { maxBuffer: 16 << 20, timeout: 60_000 });
  return stdout;
}

/** Why this machine cannot run a real node, or undefined when it can. */
export function cannotRunRealNode(): string | undefined {
  if (process.getuid?.() !== 0) return 'real nodes need root (network and mount namespaces, cgroups)';
  if (!fs.existsSync('/sys/fs/cgroup/memory/cgroup.procs') && !fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'no cgroup hierarchy at /sys/fs/cgroup';
  return undefined;
}

export interface Pod {
  metadata: { name: string; namespace?: string; uid?: string; annotations?: Record<string, string> };
  spec: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { name: string; ready: boolean; restartCount: number }[] };
}

export async function getPod(kubeconfig: string, ns: string, name: string): Promise<Pod> {
  return JSON.parse(await kubectl(kubeconfig, ['get', 'pod', '-n', ns, name, '-o', 'json'])) as Pod;
}

export function isReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Waits until the pod is Running and Ready; returns it. */
export async function waitPodReady(kubeconfig: string, ns: string, name: string, timeoutMs = 120_000): Promise<Pod> {
  return waitFor(`pod ${ns}/${name} Running and Ready`, async () => {
    const p = await getPod(kubeconfig, ns, name);
    return p.status?.phase === 'Running' && isReady(p) && p;
  }, timeoutMs, 250);
}

/** A pod of the test image on the real node (imagePullPolicy Never: images are imported, nothing is pulled). */
export function testPod(name: string, ns: string, args: string[], extra: { labels?: Record<string, string>; annotations?: Record<string, string>; ports?: number[] } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: name, ...extra.labels }, annotations: extra.annotations },
    spec: {
      nodeSelector: { type: 'real' },
      terminationGracePeriodSeconds: 1,
      enableServiceLinks: false,
      containers: [{ name: 'main', image: TEST_IMAGE, imagePullPolicy: 'Never', args, ports: (extra.ports ?? []).map((p) => ({ containerPort: p })) }],
    },
  };
}

export async function apply(kubeconfig: string, objs: object[]): Promise<void> {
  await kubectl(kubeconfig, ['apply', '-f', '-'], objs.map((o) => JSON.stringify(o)).join('\n'));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function loadavg(): string {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/**
 * The mizzen image archive: scripts/image builds it (cached) under dist/images. Undefined when the repository
 * has no scripts/image or it wrote no archive.
 */
export async function mizzenImage(): Promise<string | undefined> {
  const script = path.join(repoRoot, 'scripts/image');
  if (!fs.existsSync(script)) return undefined;
  const { stdout } = await exec(script, [], { maxBuffer: 16 << 20, timeout: 30 * 60_000 });
  const named = stdout.split('\n').map((l) => l.trim()).find((l) => l.endsWith('.tar') && fs.existsSync(l));
  if (named) return named;
  const dir = path.join(repoRoot, 'dist/images');
  const tars = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.tar')) : [];
  return tars.length ? path.join(dir, tars.sort().at(-1)!) : undefined;
}

/**
 * The resident memory (MiB) of a pod's processes but its pause container, read from /proc on the host: the
 * node's processes are the host's, and each sits in the pod's cgroup (`pod<uid>`, dashes or underscores).
 */
export function podRssMiB(uid: string): number {
  const marks = [`pod${uid}`, `pod${uid.replace(/-/g, '_')}`];
  let kib = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (!marks.some((m) => cgroup.includes(m))) continue;
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^Name:\s+pause$/m.test(status)) continue;
      kib += Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
    } catch {
      // the process is gone
    }
  }
  return kib / 1024;
}
