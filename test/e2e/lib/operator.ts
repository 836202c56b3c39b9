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
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = await waitFor(
    'the operator probe server',
    () => logs.find((l) => l.message === 'Started probe server'),
    // Loading the CLI through tsx takes over a minute on a 2-core machine at load 25.
    180_000,
    50,
  );
  return { child, logs, probeUrl: `http://${String(started.address)}`, exited };
}

export async function metric(op: OperatorProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${op.probeUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : undefined;
}

export async function stopOperatorProcess(op: OperatorProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!op || op.child.exitCode !== null || op.child.signalCode !== null) return;
  op.child.kill(signal);
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
