import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot, waitFor } from './cluster.js';

/** Collects a process's JSON log lines as they arrive; a line that is not JSON is kept as its message. */
export function collectJsonLogs(stream: NodeJS.ReadableStream): Record<string, unknown>[] {
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ message: line });
      }
    }
  });
  return logs;
}

export interface OperatorProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  probeUrl: string;
  exited: Promise<number | null>;
}

/** Starts `bin/mizzen operator` as a real process with JSON logs; resolves once its probe server listens. */
export async function startOperatorProcess(kubeconfig: string, args: string[], env: Record<string, string> = {}): Promise<OperatorProcess> {
  const child = spawn(path.join(repoRoot, 'bin/mizzen'), ['operator', '--kubeconfig', kubeconfig, '--log-format', 'json', '--probe-addr', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs = collectJsonLogs(child.stderr);
  child.stdout.resume();
  let gone: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((gone = code))));
  const started = await waitFor(
    'the operator probe server',
    // A process that exits first (a start-up error) ends the wait at once, with its last lines.
    () => logs.find((l) => l.message === 'Started probe server') ?? (gone !== undefined ? { exited: gone } : undefined),
    // Loading the CLI through tsx takes over a minute on a 2-core machine at load 25.
    180_000,
    50,
  );
  if ('exited' in started) {
    throw new Error(`the operator exited (status ${String(started.exited)}) before its probe server started: ${logs.slice(-5).map((l) => String(l.message)).join(' | ')}`);
  }
  return { child, logs, probeUrl: `http://${String(started.address)}`, exited };
}

export async function metric(op: OperatorProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${op.probeUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : undefined;
}

/** The sum of a metric's samples whose labels include the given ones (e.g. reconciles of one controller). */
export async function metricSum(op: OperatorProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${op.probeUrl}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && wanted.every((w) => l.includes(w)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Mutating API requests the operator made (POST, PUT, PATCH, DELETE), from its own metrics. */
export async function apiWrites(op: OperatorProcess): Promise<number> {
  const text = await (await fetch(`${op.probeUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => /^mizzen_api_requests_total\{verb="(POST|PUT|PATCH|DELETE)"/.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/**
 * Waits until a controller has reconciled at least once more than `since` and its work queue is empty, with the
 * count unchanged for a moment: evidence that the operator looked, before a test asserts that nothing changed.
 */
export async function waitForReconcile(op: OperatorProcess, controller: string, since: number, timeoutMs = 30_000): Promise<number> {
  let last = -1;
  return waitFor(
    `a ${controller} reconcile after the change`,
    async () => {
      const n = await metricSum(op, 'mizzen_reconcile_total', { controller });
      const depth = await metricSum(op, 'mizzen_workqueue_depth', { controller });
      const settled = n > since && depth === 0 && n === last;
      last = n;
      return settled ? n : undefined;
    },
    timeoutMs,
    300,
  );
}

export async function stopOperatorProcess(op: OperatorProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 60_000): Promise<void> {
  if (!op || op.child.exitCode !== null || op.child.signalCode !== null) return;
  op.child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const outcome = await Promise.race([op.exited.then(() => 'exited' as const), late]);
  clearTimeout(timer);
  if (outcome === 'exited') return;
  // A clean stop is asserted where it is the subject (the leader suite); elsewhere a hang must not hang the hook.
  console.log(`      WARNING: the operator had not exited ${graceMs} ms after ${signal}; killing it. Last log lines:\n${logTail(op, 20)}`);
  op.child.kill('SIGKILL');
  await op.exited;
}

/** The last log lines of an operator process, for a failed test's report. */
export function logTail(op: OperatorProcess | undefined, lines = 40): string {
  if (!op) return '';
  return op.logs
    .slice(-lines)
    .map((l) => JSON.stringify(l))
    .join('\n');
}
