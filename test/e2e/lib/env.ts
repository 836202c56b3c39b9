import { clusterDown, clusterUp, installCrds } from './cluster.js';

/**
 * The shared e2e cluster: started once for the whole run by the root hooks (test/e2e/hooks.ts) and torn
 * down at the end unless MIZZEN_E2E_KEEP=1.
 */
export const e2e = {
  name: process.env.MIZZEN_E2E_CLUSTER ?? 'e2e0',
  kubeconfig: '',
};

let started: Promise<void> | undefined;

export function ensureCluster(): Promise<void> {
  started ??= (async () => {
    if (process.env.MIZZEN_E2E_REUSE !== '1') await clusterDown(e2e.name);
    e2e.kubeconfig = await clusterUp(e2e.name);
    await installCrds(e2e.kubeconfig);
  })();
  return started;
}

export async function teardownCluster(): Promise<void> {
  if (!started || process.env.MIZZEN_E2E_KEEP === '1') return;
  await clusterDown(e2e.name);
}
