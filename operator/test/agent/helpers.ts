// Shared helpers of the agent's unit tests: pods, temp dirs, the built plugin.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface PodOptions {
  namespace?: string;
  name?: string;
  uid?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  containers?: string[];
  initContainers?: string[];
  proxyEnv?: Record<string, string>;
  hostNetwork?: boolean;
}

export function pod(o: PodOptions = {}): V1Pod {
  const containers = o.containers ?? ['app', 'istio-proxy'];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: o.namespace ?? 'shop', name: o.name ?? 'web-1', uid: o.uid ?? 'uid-1', annotations: o.annotations ?? {}, labels: o.labels ?? {} },
    spec: {
      nodeName: 'node-a',
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: containers.map((name) => ({
        name,
        image: name,
        ...(name === 'istio-proxy' && o.proxyEnv ? { env: Object.entries(o.proxyEnv).map(([k, v]) => ({ name: k, value: v })) } : {}),
      })),
      ...(o.initContainers ? { initContainers: o.initContainers.map((name) => ({ name, image: name })) } : {}),
    },
  };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mz-${prefix}-`));
}

let built: string | undefined;

/** The built plugin (dist/mizzen-cni), built by scripts/build-cni if missing or stale. */
export function builtPlugin(): string {
  built ??= execFileSync(path.join(REPO, 'scripts/build-cni'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  return built;
}
