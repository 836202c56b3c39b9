// Benchmark of the serviceexport (Multi-Cluster Services) controller on two real local clusters, each with its own
// `mizzen operator` process:
//   1. export→import latency across clusters: a ServiceExport created in c0 until the ServiceImport in c1 is
//      Ready with its clusterset IP (BENCH_RUNS sequential exports; p50/p99);
//   2. for each size in BENCH_SIZES (default 100,1000; 5000 takes long): that many services with
//      BENCH_ENDPOINTS endpoints each are exported at once, until every export is Ready in c0 and every import Ready
//      with its IP and every slice mirrored in both clusters. Meanwhile endpoint changes of already converged
//      services are propagated (p50/p99 "while converging"). Printed: the time, the API writes and all API requests
//      per service in each cluster, each operator's RSS, the load average;
//   3. per size, both operators restarted with everything converged: the time until they have reconciled every
//      service and gone quiet, and the writes they made (0 expected);
//   4. endpoint-change propagation with nothing else going on: BENCH_CHANGES source EndpointSlice updates in c0
//      (BENCH_CHANGE_RATE per second) until the mirrored slice in c1 has the new endpoints (p50/p99).
// BENCH_NAMESPACES (default 2000) empty namespaces are created in both clusters first, so the caches hold them too.
// Services are selector-less with EndpointSlices the bench writes itself (no pods), so the figures are the
// controller's, not the scheduler's or kwok's.
import os from 'node:os';
import fs from 'node:fs';
import type { KubernetesObject, V1EndpointSlice } from '@kubernetes/client-node';
import type { ServiceExport, ServiceImport } from '../../operator/src/api/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { R } from '../../operator/src/kube/resources.js';
import { silentLogger } from '../../operator/src/util/log.js';
import { clusterDown, clusterUp, installCrds, waitFor } from '../../test/e2e/lib/cluster.js';
import { startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../../test/e2e/lib/operator.js';

const runs = Number(process.env.BENCH_RUNS ?? 30);
const sizes = (process.env.BENCH_SIZES ?? process.env.BENCH_SERVICES ?? '100,1000').split(',').map(Number).filter((n) => n > 0);
const endpointsPer = Number(process.env.BENCH_ENDPOINTS ?? 5);
const fillerNamespaces = Number(process.env.BENCH_NAMESPACES ?? 2000);
const changes = Number(process.env.BENCH_CHANGES ?? 200);
const changeRate = Number(process.env.BENCH_CHANGE_RATE ?? 20);
const clusterNames = [process.env.BENCH_CLUSTER0 ?? 'bench-mcs0', process.env.BENCH_CLUSTER1 ?? 'bench-mcs1'] as const;
const NS = 'mcs-bench';
const SYSTEM = 'mizzen-system';
const CONCURRENCY = 16;

type Import = ServiceImport & KubernetesObject;
type Export = ServiceExport & KubernetesObject;

interface Member {
  id: string;
  kubeconfig: string;
  client: KubeClient;
  op?: OperatorProcess;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.replace(/\D+/g, '') ?? 0) / 102.4) / 10;
}

/** CPU seconds (user + system) a process has used so far; NaN if it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, in clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

/** The pid of a local cluster's component (scripts/cluster keeps them under its state directory). */
function componentPid(cluster: string, component: string): number | undefined {
  const dir = process.env.MIZZEN_CLUSTER_DIR ?? `${os.homedir()}/.cache/mizzen/clusters`;
  try {
    return Number(fs.readFileSync(`${dir}/${cluster}/pids/${component}.pid`, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by each operator, this process and each cluster's kube-apiserver and etcd. */
function cpuNow(c0: Member, c1: Member): Record<string, number> {
  const self = process.cpuUsage();
  const out: Record<string, number> = {
    'operator c0': cpuSeconds(c0.op?.child.pid),
    'operator c1': cpuSeconds(c1.op?.child.pid),
    'bench itself': (self.user + self.system) / 1e6,
  };
  clusterNames.forEach((name, i) => {
    for (const comp of ['kube-apiserver', 'etcd']) out[`${comp} c${i}`] = cpuSeconds(componentPid(name, comp));
  });
  return out;
}

/** CPU seconds between two readings of cpuNow, as "operator c0 4.1 s, ...". */
function cpuUsed(before: Record<string, number>, after: Record<string, number>): string {
  return Object.keys(after)
    .map((k) => `${k} ${((after[k] ?? NaN) - (before[k] ?? NaN)).toFixed(1)} s`)
    .join(', ');
}

interface Counters {
  writes: number;
  requests: number;
  reconciles: number;
  depth: number;
  /** Requests by "VERB resource" (e.g. "PATCH serviceimports/status"). */
  byResource: Map<string, number>;
  /** Seconds spent in write requests (PATCH/POST/PUT/DELETE) and in serviceexport reconciles, summed. */
  writeSeconds: number;
  reconcileSeconds: number;
  /** Requests that waited for the client-side rate limit, and seconds waited, bulk and urgent. */
  throttled: number;
  throttledSeconds: number;
  urgentThrottled: number;
  urgentThrottledSeconds: number;
}

/** The operator's API requests (writes: POST/PUT/PATCH/DELETE; all verbs), reconciles and queue depth so far. */
async function counters(op: OperatorProcess | undefined): Promise<Counters> {
  if (!op) {
    return { writes: NaN, requests: NaN, reconciles: NaN, depth: NaN, byResource: new Map(), writeSeconds: NaN, reconcileSeconds: NaN, throttled: NaN, throttledSeconds: NaN, urgentThrottled: NaN, urgentThrottledSeconds: NaN };
  }
  const lines = (await (await fetch(`${op.probeUrl}/metrics`)).text()).split('\n');
  const sum = (re: RegExp): number => lines.filter((l) => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  const byResource = new Map<string, number>();
  for (const l of lines) {
    if (!l.startsWith('mizzen_api_requests_total{')) continue;
    const verb = /verb="([^"]*)"/.exec(l)?.[1] ?? '?';
    const resource = /resource="([^"]*)"/.exec(l)?.[1] ?? '?';
    const k = `${verb} ${resource}`;
    byResource.set(k, (byResource.get(k) ?? 0) + Number(l.split(' ').pop()));
  }
  return {
    byResource,
    writes: sum(/^mizzen_api_requests_total\{verb="(POST|PUT|PATCH|DELETE)"/),
    requests: sum(/^mizzen_api_requests_total\{/),
    reconciles: sum(/^mizzen_reconcile_total\{controller="serviceexport"/),
    depth: sum(/^mizzen_workqueue_depth\{controller="serviceexport"/),
    writeSeconds: sum(/^mizzen_api_request_duration_seconds_sum\{verb="(POST|PUT|PATCH|DELETE)"/),
    reconcileSeconds: sum(/^mizzen_reconcile_duration_seconds_sum\{controller="serviceexport"/),
    throttled: sum(/^mizzen_api_client_throttled_total\{priority="bulk"/),
    throttledSeconds: sum(/^mizzen_api_client_wait_seconds_total\{priority="bulk"/),
    urgentThrottled: sum(/^mizzen_api_client_throttled_total\{priority="urgent"/),
    urgentThrottledSeconds: sum(/^mizzen_api_client_wait_seconds_total\{priority="urgent"/),
  };
}

const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

/** Runs fn over items with at most `n` in flight. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const ip = (a: number, i: number): string => `10.${a}.${(i >> 8) & 255}.${i & 255}`;

function service(name: string): KubernetesObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } } as KubernetesObject;
}

/** The endpoints of service number i of a size: `endpointsPer` addresses. */
const endpointIps = (i: number): string[] => Array.from({ length: endpointsPer }, (_, k) => `10.${100 + (k % 100)}.${(i >> 8) & 255}.${i & 255}`);

/** The source slice of a selector-less Service, as a custom EndpointSlice controller would keep it. */
function sourceSlice(name: string, addresses: string[]): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-src`, namespace: NS, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'bench.mizzen.io' } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

function serviceExport(name: string): Export {
  return { apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name, namespace: NS } };
}

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined): boolean => o?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const importReady = (i: Import | undefined): boolean => ready(i) && (i?.spec?.ips ?? []).length > 0;
const sliceAddresses = (s: V1EndpointSlice): string => (s.endpoints ?? []).flatMap((e) => e.addresses).sort().join(',');

/** Creates the namespace, first waiting for a previous run's copy of it to finish terminating. */
async function usableNamespace(client: KubeClient, name: string): Promise<void> {
  await waitFor(`namespace ${name} to finish terminating`, async () => !(await client.get(R.namespace, name))?.metadata?.deletionTimestamp, 600_000, 500);
  await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** SIGTERM, then SIGKILL if the operator has not exited after 20 s; its logs go to $BENCH_LOGS/<id>.jsonl if set. */
async function stopOperator(m: Member): Promise<void> {
  const op = m.op;
  if (!op) return;
  const kill = setTimeout(() => op.child.kill('SIGKILL'), 20_000);
  await stopOperatorProcess(op);
  clearTimeout(kill);
  if (process.env.BENCH_LOGS) fs.writeFileSync(`${process.env.BENCH_LOGS}/${m.id}.jsonl`, op.logs.map((l) => JSON.stringify(l)).join('\n'));
}

async function setup(): Promise<[Member, Member]> {
  const kubeconfigs = await Promise.all(clusterNames.map((n) => clusterUp(n)));
  const members: Member[] = await Promise.all(
    kubeconfigs.map(async (kubeconfig, i) => ({ id: `c${i}`, kubeconfig, client: await KubeClient.create(KubeClient.loadConfig(kubeconfig), 'mcs-bench') })),
  );
  const [c0, c1] = members as [Member, Member];
  for (const m of members) {
    await installCrds(m.kubeconfig);
    // A fresh namespace: one left by an interrupted run (or BENCH_KEEP=1) holds converged services already.
    await m.client.delete(R.namespace, NS);
    for (const ns of [NS, SYSTEM]) await usableNamespace(m.client, ns);
  }
  for (const [m, peer] of [[c0, c1], [c1, c0]] as const) {
    await m.client.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `member-${peer.id}`, namespace: SYSTEM, labels: { 'mizzen.io/cluster-member': 'true' } },
      data: { kubeconfig: fs.readFileSync(peer.kubeconfig).toString('base64'), 'cluster-id': Buffer.from(peer.id).toString('base64') },
    } as KubernetesObject);
  }
  return [c0, c1];
}

interface Watches {
  readonly imports1: Informer<Import>;
  readonly imports0: Informer<Import>;
  readonly exports0: Informer<Export>;
  readonly mirrored1: Informer<V1EndpointSlice>;
  readonly mirrored0: Informer<V1EndpointSlice>;
  /** When each import in c1 was first seen Ready with its IP. */
  readonly importReadyAt: Map<string, number>;
  /** Endpoint changes in flight: service → the addresses c1 should show, and when the change was written. */
  readonly expected: Map<string, { addresses: string; at: number }>;
  readonly propagation: number[];
}

async function watch(c0: Member, c1: Member): Promise<Watches> {
  const log = silentLogger();
  const mirrored = { namespace: NS, labelSelector: 'multicluster.kubernetes.io/source-cluster=c0' };
  const w: Watches = {
    imports1: new Informer<Import>(R.serviceImport, c1.client, log, { namespace: NS }),
    imports0: new Informer<Import>(R.serviceImport, c0.client, log, { namespace: NS }),
    exports0: new Informer<Export>(R.serviceExport, c0.client, log, { namespace: NS }),
    mirrored1: new Informer<V1EndpointSlice>(R.endpointSlice, c1.client, log, mirrored),
    mirrored0: new Informer<V1EndpointSlice>(R.endpointSlice, c0.client, log, mirrored),
    importReadyAt: new Map(),
    expected: new Map(),
    propagation: [],
  };
  w.imports1.on((type, i) => {
    const name = i.metadata?.name ?? '';
    if (type !== 'delete' && importReady(i) && !w.importReadyAt.has(name)) w.importReadyAt.set(name, performance.now());
  });
  w.mirrored1.on((type, s) => {
    const name = s.metadata?.labels?.['multicluster.kubernetes.io/service-name'] ?? '';
    const want = w.expected.get(name);
    if (type !== 'delete' && want && sliceAddresses(s) === want.addresses) {
      w.propagation.push(performance.now() - want.at);
      w.expected.delete(name);
    }
  });
  for (const i of informersOf(w)) i.start();
  await Promise.all(informersOf(w).map((i) => i.waitForSync()));
  return w;
}

function informersOf(w: Watches): Informer[] {
  return [w.imports1, w.imports0, w.exports0, w.mirrored1, w.mirrored0] as unknown as Informer[];
}

/** 1. export → import latency, one export at a time. */
async function latency(c0: Member, w: Watches): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const name = `lat-${i}`;
    await c0.client.apply(service(name));
    await c0.client.apply(sourceSlice(name, [ip(198, i)]));
    const t0 = performance.now();
    await c0.client.apply(serviceExport(name));
    await waitFor(`import ${name} in c1`, () => w.importReadyAt.has(name), 30_000, 5);
    out.push((w.importReadyAt.get(name) ?? NaN) - t0);
  }
  return out.sort((a, b) => a - b);
}

interface Converged {
  /** From the first export created until converged, and from the last one. */
  fromFirst: number;
  fromLast: number;
  /** When c1 alone was complete, from the first export. */
  c1Done: number;
  created: number;
  /** Per service in c0 and c1. */
  writesPer: [number, number];
  requestsPer: [number, number];
  reconcilesPer: [number, number];
  /** Mean latency of a write request and of a reconcile, in ms, in c0 and c1. */
  writeMs: [number, number];
  reconcileMs: [number, number];
  /** Requests per service by verb and resource, in c0 and c1, most first. */
  byResourcePer: [string, string];
  /** Endpoint changes of converged services made while these converged. */
  propagation: number[];
  /** Client-side rate limit waits meanwhile, in c0 and c1: "bulk N (mean X ms), urgent M (mean Y ms)". */
  throttle: [string, string];
  /** CPU seconds each process used meanwhile. */
  cpu: string;
}

/** 2. `names.length` exports at once, until everything is in place in both clusters. */
async function convergence(c0: Member, c1: Member, w: Watches, names: readonly string[], busy: readonly string[]): Promise<Converged> {
  await pool(names, CONCURRENCY, async (name) => {
    const i = Number(name.split('-').pop());
    await c0.client.apply(service(name));
    await c0.client.apply(sourceSlice(name, endpointIps(i)));
  });
  const before = [await counters(c0.op), await counters(c1.op)];
  const cpuBefore = cpuNow(c0, c1);
  const s0 = performance.now();
  let last = NaN;
  let done = false;
  // Endpoint changes of services converged earlier, at BENCH_CHANGE_RATE, for as long as the new ones converge.
  const changing = (async (): Promise<number[]> => {
    const out: number[] = [];
    for (let k = 0; !done && busy.length > 0; k++) {
      const name = busy[k % busy.length] as string;
      out.push(await propagateOnce(c0, w, name, [ip(205, k), ip(206, k)]));
      await new Promise((r) => setTimeout(r, 1000 / changeRate));
    }
    return out;
  })();
  await pool(names, CONCURRENCY, async (name) => {
    await c0.client.apply(serviceExport(name));
    last = performance.now();
  });
  const created = last - s0;
  const wanted = new Set(names);
  const count = (found: Iterable<string | undefined>): number => [...new Set(found)].filter((n) => n !== undefined && wanted.has(n)).length;
  const sliceServices = (inf: Informer<V1EndpointSlice>): (string | undefined)[] => inf.list().map((s) => s.metadata?.labels?.['multicluster.kubernetes.io/service-name']);
  let c1Done = NaN;
  await waitFor(
    `${names.length} services to converge`,
    () => {
      const inC1 = count(w.imports1.list().filter(importReady).map((i) => i.metadata?.name)) === names.length && count(sliceServices(w.mirrored1)) === names.length;
      if (inC1 && Number.isNaN(c1Done)) c1Done = performance.now() - s0;
      return (
        inC1 &&
        count(w.imports0.list().filter(importReady).map((i) => i.metadata?.name)) === names.length &&
        count(sliceServices(w.mirrored0)) === names.length &&
        count(w.exports0.list().filter(ready).map((e) => e.metadata?.name)) === names.length
      );
    },
    15 * 60_000,
    20,
  );
  const end = performance.now();
  const cpuAfter = cpuNow(c0, c1);
  done = true;
  const propagation = (await changing).sort((a, b) => a - b);
  const after = [await counters(c0.op), await counters(c1.op)];
  const per = (f: (c: Counters) => number, i: 0 | 1): number => (f(after[i] as Counters) - f(before[i] as Counters)) / names.length;
  const mean = (i: 0 | 1, total: (c: Counters) => number, count: (c: Counters) => number): number => (1000 * per(total, i)) / per(count, i);
  return {
    fromFirst: end - s0,
    fromLast: end - last,
    c1Done,
    created,
    writesPer: [per((c) => c.writes, 0), per((c) => c.writes, 1)],
    requestsPer: [per((c) => c.requests, 0), per((c) => c.requests, 1)],
    reconcilesPer: [per((c) => c.reconciles, 0), per((c) => c.reconciles, 1)],
    writeMs: [mean(0, (c) => c.writeSeconds, (c) => c.writes), mean(1, (c) => c.writeSeconds, (c) => c.writes)],
    reconcileMs: [mean(0, (c) => c.reconcileSeconds, (c) => c.reconciles), mean(1, (c) => c.reconcileSeconds, (c) => c.reconciles)],
    byResourcePer: [perResource(before[0] as Counters, after[0] as Counters, names.length), perResource(before[1] as Counters, after[1] as Counters, names.length)],
    propagation,
    throttle: [throttleOf(before[0] as Counters, after[0] as Counters), throttleOf(before[1] as Counters, after[1] as Counters)],
    cpu: cpuUsed(cpuBefore, cpuAfter),
  };
}

/** The client-side rate limit waits between two readings. */
function throttleOf(before: Counters, after: Counters): string {
  const one = (n: number, s: number): string => (n > 0 ? `${n} (mean ${((1000 * s) / n).toFixed(0)} ms)` : '0');
  return `bulk ${one(after.throttled - before.throttled, after.throttledSeconds - before.throttledSeconds)}, urgent ${one(after.urgentThrottled - before.urgentThrottled, after.urgentThrottledSeconds - before.urgentThrottledSeconds)}`;
}

/** The requests per service between two readings, by verb and resource: "PATCH services 1.0, ...", most first. */
function perResource(before: Counters, after: Counters, n: number): string {
  const rows = [...after.byResource].map(([k, v]) => [k, (v - (before.byResource.get(k) ?? 0)) / n] as const).filter(([, v]) => v >= 0.05);
  return rows.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
}

/** One endpoint change of `name` in c0, until c1 mirrors it; resolves with the time it took. */
async function propagateOnce(c0: Member, w: Watches, name: string, addresses: string[]): Promise<number> {
  const at = performance.now();
  w.expected.set(name, { addresses: [...addresses].sort().join(','), at });
  const n = w.propagation.length;
  await c0.client.apply(sourceSlice(name, addresses));
  await waitFor(`the endpoint change of ${name} to reach c1`, () => w.propagation.length > n && !w.expected.has(name), 60_000, 2);
  return w.propagation[w.propagation.length - 1] ?? NaN;
}

interface Restart {
  /** From spawning both processes until both have reconciled everything and gone quiet. */
  settled: number;
  writes: [number, number];
  requests: [number, number];
}

/** 3. Both operators restarted with `total` services converged: how long until quiet, and what they wrote. */
async function restart(c0: Member, c1: Member, total: number): Promise<Restart> {
  await Promise.all([c0, c1].map((m) => stopOperator(m)));
  const t0 = performance.now();
  await startOperatorProcesses(c0, c1);
  // Quiet: every service reconciled at least once, the queue empty and no reconcile for a second.
  let lastChange = performance.now();
  let prev = -1;
  const counts = await waitFor(
    'the restarted operators to settle',
    async () => {
      const cs = [await counters(c0.op), await counters(c1.op)];
      const reconciles = cs.reduce((n, c) => n + c.reconciles, 0);
      if (reconciles !== prev) {
        prev = reconciles;
        lastChange = performance.now();
        return undefined;
      }
      const enough = cs.every((c) => c.reconciles >= total && c.depth === 0);
      return enough && performance.now() - lastChange >= 1000 ? cs : undefined;
    },
    10 * 60_000,
    100,
  );
  const [a, b] = counts as [Counters, Counters];
  return { settled: lastChange - t0, writes: [a.writes, b.writes], requests: [a.requests, b.requests] };
}

/** 3. endpoint changes at a steady rate, each to one service's source slice, until mirrored in c1. */
async function propagation(c0: Member, w: Watches, names: readonly string[]): Promise<number[]> {
  const targets = names.slice(0, Math.min(changes, names.length));
  const gap = 1000 / changeRate;
  const start = performance.now();
  // Only this phase's changes: the ones made while services converged are in w.propagation too.
  const first = w.propagation.length;
  for (let k = 0; k < changes; k++) {
    const name = targets[k % targets.length] as string;
    const addresses = [ip(202, k), ip(203, k), ip(204, k)];
    while (w.expected.has(name)) await new Promise((r) => setTimeout(r, 5)); // one change per service in flight
    const due = start + k * gap;
    if (performance.now() < due) await new Promise((r) => setTimeout(r, due - performance.now()));
    w.expected.set(name, { addresses: [...addresses].sort().join(','), at: performance.now() });
    c0.client.apply(sourceSlice(name, addresses)).catch((err: unknown) => console.error(`bench: update of ${name} failed: ${String(err)}`));
  }
  await waitFor('every endpoint change to reach c1', () => w.expected.size === 0, 120_000, 20);
  return w.propagation.slice(first).sort((a, b) => a - b);
}

async function startOperatorProcesses(c0: Member, c1: Member): Promise<void> {
  // The compiled CLI even when a source changed since the build (bin/mizzen would run the sources through tsx).
  const env: Record<string, string> = { MIZZEN_CLI: 'dist' };
  for (const k of ['NODE_OPTIONS', 'MIZZEN_KUBE_API_QPS', 'MIZZEN_KUBE_API_BURST', 'MIZZEN_MCS_WORKERS', 'MIZZEN_MCS_BULK_WORKERS']) {
    const v = process.env[`BENCH_${k}`];
    if (v) env[k] = v;
  }
  await Promise.all(
    [c0, c1].map(async (m) => {
      m.op = await startOperatorProcess(m.kubeconfig, ['--no-leader-elect', '--controllers', 'serviceexport', '--cluster-id', m.id, '--log-level', process.env.BENCH_LOG_LEVEL ?? 'info'], env);
    }),
  );
}

/** Starts one operator per cluster and waits until an export goes through both. */
async function startOperators(c0: Member, c1: Member): Promise<void> {
  await startOperatorProcesses(c0, c1);
  await c0.client.apply(service('warmup'));
  await c0.client.apply(sourceSlice('warmup', [ip(199, 1)]));
  await c0.client.apply(serviceExport('warmup'));
  for (const m of [c0, c1]) await waitFor(`the warm-up import in ${m.id}`, async () => importReady(await m.client.get<Import>(R.serviceImport, 'warmup', NS)), 120_000, 200);
}

/** Empty namespaces in both clusters, so that the operators' namespace caches hold that many. */
async function fillNamespaces(c0: Member, c1: Member): Promise<void> {
  const names = Array.from({ length: fillerNamespaces }, (_, i) => `mcs-bench-filler-${i}`);
  for (const m of [c0, c1]) await pool(names, CONCURRENCY, (name) => m.client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
}

/** The operator settings passed through from BENCH_* variables, for the header: ", MIZZEN_MCS_WORKERS=16". */
const settings = (): string =>
  ['MIZZEN_KUBE_API_QPS', 'MIZZEN_KUBE_API_BURST', 'MIZZEN_MCS_WORKERS', 'MIZZEN_MCS_BULK_WORKERS']
    .filter((k) => process.env[`BENCH_${k}`])
    .map((k) => `, ${k}=${process.env[`BENCH_${k}`]}`)
    .join('');

const ms = (v: number): string => `${v.toFixed(0)} ms`;
const sec = (v: number): string => `${(v / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const t = Date.now();
  const [c0, c1] = await setup();
  let w: Watches | undefined;
  const out: string[] = [];
  const print = (line: string): void => {
    out.push(line);
    console.error(`bench: ${line.trim()}`);
  };
  try {
    await fillNamespaces(c0, c1);
    await startOperators(c0, c1);
    w = await watch(c0, c1);
    console.error(`bench: set up in ${((Date.now() - t) / 1000).toFixed(1)} s (${fillerNamespaces} extra namespaces in each cluster)`);
    const lat = await latency(c0, w);
    print(`  export→import across clusters   p50 ${ms(pct(lat, 50))}   p99 ${ms(pct(lat, 99))}   (${runs} sequential exports, until Ready with its IP in c1; load ${load()})`);
    let busy: string[] = Array.from({ length: runs }, (_, i) => `lat-${i}`);
    let total = runs + 1;
    const all: string[] = [];
    for (const size of sizes) {
      const names = Array.from({ length: size }, (_, i) => `s${size}-${i}`);
      const conv = await convergence(c0, c1, w, names, busy);
      total += size;
      all.push(...names);
      const prop = conv.propagation;
      print(
        `  ${String(size).padStart(5)} services × ${endpointsPer} endpoints   converged ${sec(conv.fromLast)} after the last export was created (${sec(conv.fromFirst)} after the first; c1 complete at ${sec(conv.c1Done)}; exports created in ${sec(conv.created)})`,
      );
      print(`        API writes per service        c0 ${conv.writesPer[0].toFixed(1)}   c1 ${conv.writesPer[1].toFixed(1)}   all API requests per service: c0 ${conv.requestsPer[0].toFixed(1)}   c1 ${conv.requestsPer[1].toFixed(1)}   reconciles per service: c0 ${conv.reconcilesPer[0].toFixed(1)}   c1 ${conv.reconcilesPer[1].toFixed(1)}`);
      print(`        requests per service by verb  c0: ${conv.byResourcePer[0]}`);
      print(`                                      c1: ${conv.byResourcePer[1]}`);
      print(`        mean write / reconcile        c0 ${ms(conv.writeMs[0])} / ${ms(conv.reconcileMs[0])}   c1 ${ms(conv.writeMs[1])} / ${ms(conv.reconcileMs[1])}`);
      print(`        client rate-limit waits       c0 ${conv.throttle[0]}   c1 ${conv.throttle[1]}`);
      print(`        CPU used meanwhile            ${conv.cpu}   (wall ${sec(conv.fromFirst)})`);
      print(`        endpoint change meanwhile     p50 ${ms(pct(prop, 50))}   p99 ${ms(pct(prop, 99))}   (${prop.length} changes of converged services)`);
      print(`        operator RSS                  c0 ${rssMiB(c0.op?.child.pid)} MiB   c1 ${rssMiB(c1.op?.child.pid)} MiB   (${total} services, ${total * endpointsPer} endpoints, ${fillerNamespaces + 3} namespaces cached; load ${load()})`);
      const r = await restart(c0, c1, total);
      print(`        restart, all converged        settled in ${sec(r.settled)}   writes c0 ${r.writes[0]}   c1 ${r.writes[1]}   requests c0 ${r.requests[0]}   c1 ${r.requests[1]}   (load ${load()})`);
      busy = names.slice(0, 200);
    }
    const names = all.length > 0 ? all : busy;
    const prop = await propagation(c0, w, names);
    print(`  endpoint-change propagation     p50 ${ms(pct(prop, 50))}   p99 ${ms(pct(prop, 99))}   (${changes} source-slice updates in c0 at ${changeRate}/s, until mirrored in c1; load ${load()})`);
    print(`  operator RSS at the end         c0 ${rssMiB(c0.op?.child.pid)} MiB   c1 ${rssMiB(c1.op?.child.pid)} MiB`);
    console.log(`mcs bench (2 clusters, kube-apiserver v1.36.3, one mizzen operator per cluster, ${os.cpus().length} CPUs${settings()}; ${new Date().toISOString()})`);
    for (const line of out) console.log(line);
  } finally {
    if (out.length > 0 && process.exitCode) for (const line of out) console.log(line);
    if (w) await Promise.all(informersOf(w).map((i) => i.stop()));
    await Promise.all([c0, c1].map((m) => stopOperator(m)));
    for (const m of [c0, c1]) {
      if (process.env.BENCH_KEEP === '1') await m.client.delete(R.namespace, NS).catch(() => undefined);
      m.client.close();
    }
    if (process.env.BENCH_KEEP !== '1') await Promise.all(clusterNames.map((n) => clusterDown(n)));
  }
}

await main();
