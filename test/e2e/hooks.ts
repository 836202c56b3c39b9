import { ensureCluster, teardownCluster } from './lib/env.js';

/** Root hooks: one real local cluster for the e2e run. */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(45 * 60_000); // the first run builds the cluster binaries
    await ensureCluster();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await teardownCluster();
  },
};
