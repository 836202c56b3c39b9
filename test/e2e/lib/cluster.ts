import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeClient } from '../../../operator/src/kube/client.js';

const exec = promisify(execFile);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const clusterScript = path.join(repoRoot, 'scripts/cluster');

/** Runs scripts/cluster with the given arguments and returns its stdout, trimmed. */
export async function clusterCmd(...args: string[]): Promise<string> {
  const { stdout } = await exec(clusterScript, args, { maxBuffer: 16 << 20, timeout: 30 * 60_000 });
  return stdout.trim();
}

/** Starts (or reuses) a local cluster and returns the path of its admin kubeconfig. */
export async function clusterUp(name: string): Promise<string> {
  return clusterCmd('up', name);
}

export async function clusterDown(name: string): Promise<void> {
  await clusterCmd('down', name);
}

export async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(Object.assign(new Error(`kubectl ${args.join(' ')} failed (${code}): ${err.trim()}`), { stderr: err, code }));
    });
    child.stdin.end(input ?? '');
  });
}

/** kubectl that is expected to fail: resolves with its stderr, rejects if it succeeded. */
export async function kubectlFails(kubeconfig: string, args: string[], input?: string): Promise<string> {
  try {
    await kubectl(kubeconfig, args, input);
  } catch (err) {
    return (err as { stderr?: string }).stderr ?? String(err);
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded but was expected to fail`);
}

export async function installCrds(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', '-f', path.join(repoRoot, 'crds')]);
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
}

export async function client(kubeconfig: string): Promise<KubeClient> {
  return KubeClient.create(KubeClient.loadConfig(kubeconfig));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a truthy value (returned) or the timeout passes (throws with the last state). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}
