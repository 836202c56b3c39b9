import { clusterDown, clusterUp, installCrds } from './cluster.js';

/**
 * The second cluster of the multi-cluster suites: started on demand (the shared cluster of lib/env.ts is the
 * first), named by MIZZEN_E2E_CLUSTER2 (default e2e1), reused with MIZZEN_E2E_REUSE=1 and kept with
 * MIZZEN_E2E_KEEP=1 like the first.
 */
export const second = {
  name: process.env.MIZZEN_E2E_CLUSTER2 ?? 'e2e1',
  kubeconfig: '',
};

let started: Promise<string> | undefined;

/** Starts the second cluster (once per run) with the CRDs installed; resolves with its kubeconfig. */
export function ensureSecondCluster(): Promise<string> {
  started ??= (async () => {
    if (process.env.MIZZEN_E2E_REUSE !== '1') await clusterDown(second.name);
    second.kubeconfig = await clusterUp(second.name);
    await installCrds(second.kubeconfig);
    return second.kubeconfig;
  })();
  return started;
}

export async function teardownSecondCluster(): Promise<void> {
  if (!started || process.env.MIZZEN_E2E_KEEP === '1') return;
  started = undefined;
  await clusterDown(second.name);
}
