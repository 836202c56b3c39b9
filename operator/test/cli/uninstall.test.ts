import { expect } from 'chai';
import { CLEANUP_FINALIZER, leaseHeld, withoutCleanupFinalizer } from '../../src/cli/uninstall.js';

describe('cli: operator uninstall', () => {
  const now = Date.parse('2026-01-01T00:00:30Z');
  const lease = (holderIdentity: string | null, renewTime: string, leaseDurationSeconds = 15): Parameters<typeof leaseHeld>[0] => ({ spec: { holderIdentity, renewTime, leaseDurationSeconds } });

  it('a Lease is held while its holder renewed it less than a lease duration ago', () => {
    expect(leaseHeld(lease('op-1', '2026-01-01T00:00:20.000000Z'), now)).to.equal(true);
    expect(leaseHeld(lease('op-1', '2026-01-01T00:00:10.000000Z'), now)).to.equal(false);
  });

  it('a released Lease (no holder) and a missing one are free', () => {
    expect(leaseHeld(lease(null, '2026-01-01T00:00:29Z', 1), now)).to.equal(false);
    expect(leaseHeld(undefined, now)).to.equal(false);
  });

  it('only our finalizer is removed; an object without it is left alone', () => {
    const obj = { metadata: { finalizers: ['other.io/keep', CLEANUP_FINALIZER] } };
    expect(withoutCleanupFinalizer(obj)).to.deep.equal(['other.io/keep']);
    expect(withoutCleanupFinalizer({ metadata: { finalizers: ['other.io/keep'] } })).to.equal(undefined);
    expect(withoutCleanupFinalizer({ metadata: {} })).to.equal(undefined);
  });
});
