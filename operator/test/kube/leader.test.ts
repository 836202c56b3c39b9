import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { LeaderElector } from '../../src/kube/leader.js';
import type { KubeClient } from '../../src/kube/client.js';
import { ApiError } from '../../src/kube/errors.js';
import { silentLogger } from '../../src/util/log.js';

interface Lease extends KubernetesObject {
  spec?: { holderIdentity?: string | null; leaseDurationSeconds?: number };
}

/** One Lease kept in memory with resourceVersion preconditions; replace can be held back to stage a race. */
class LeaseStore {
  lease?: Lease;
  private rv = 0;
  hold?: Promise<void>;
  /** Called when a replace is parked on hold. */
  onParked?: () => void;

  client(): KubeClient {
    const copy = (l?: Lease): Lease | undefined => (l ? (JSON.parse(JSON.stringify(l)) as Lease) : undefined);
    return {
      get: () => Promise.resolve(copy(this.lease)),
      create: (obj: Lease) => {
        this.lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
        return Promise.resolve(copy(this.lease));
      },
      replace: async (_r: unknown, obj: Lease) => {
        const sentRv = obj.metadata?.resourceVersion;
        const hold = this.hold;
        if (hold) {
          this.onParked?.();
          await hold;
        }
        if (sentRv !== this.lease?.metadata?.resourceVersion) throw new ApiError(409, 'Conflict', 'the object has been modified');
        this.lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
        return copy(this.lease);
      },
    } as unknown as KubeClient;
  }
}

describe('LeaderElector', () => {
  it('releases the Lease on stop even when a renew is in flight (the renew does not win afterwards)', async () => {
    const store = new LeaseStore();
    const elector = new LeaderElector(store.client(), { namespace: 'ns', name: 'l', identity: 'a', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 20 }, silentLogger());
    let started!: () => void;
    const leading = new Promise<void>((r) => (started = r));
    const run = elector.run(() => started(), () => undefined);
    await leading;
    expect(store.lease?.spec?.holderIdentity).to.equal('a');
    // Hold the next renew on the server side, and stop while it is in flight.
    let release!: () => void;
    store.hold = new Promise<void>((r) => (release = r));
    await new Promise<void>((r) => (store.onParked = r));
    const stopping = elector.stop();
    store.hold = undefined;
    release();
    await stopping;
    await run;
    expect(store.lease?.spec?.holderIdentity, 'released after the renew landed').to.equal(null);
    expect(store.lease?.spec?.leaseDurationSeconds).to.equal(1);
    expect(elector.isLeader()).to.equal(false);
  });
});
