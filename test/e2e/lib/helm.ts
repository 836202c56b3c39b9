import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { repoRoot } from './cluster.js';

const exec = promisify(execFile);
let helmPath: Promise<string> | undefined;

/** The Helm CLI built from its Go module (scripts/helmbin/build.sh; cached after the first build). */
export function helmBinary(): Promise<string> {
  helmPath ??= exec(path.join(repoRoot, 'scripts/helmbin/build.sh'), [], { timeout: 20 * 60_000, maxBuffer: 1 << 20 }).then((r) => r.stdout.trim());
  return helmPath;
}

export async function helm(args: string[]): Promise<string> {
  const { stdout } = await exec(await helmBinary(), args, { maxBuffer: 16 << 20, timeout: 5 * 60_000, env: { ...process.env, HELM_CACHE_HOME: '/tmp/mizzen-helm/cache', HELM_CONFIG_HOME: '/tmp/mizzen-helm/config', HELM_DATA_HOME: '/tmp/mizzen-helm/data' } });
  return stdout;
}
