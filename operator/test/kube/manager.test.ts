import { expect } from 'chai';
import { retryTransient } from '../../src/kube/manager.js';
import { ApiError } from '../../src/kube/errors.js';
import { FakeClock } from '../../src/util/clock.js';

const notReady = (): ApiError => new ApiError(503, 'ServiceUnavailable', 'the request has been made before all known HTTP paths have been installed, please try again');

/** Lets the promise chain run between clock steps. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('retryTransient (setting up a new leader term)', () => {
  it('tries again after a 503 from an API server that is still starting, with growing delays, until setup succeeds', async () => {
    const clock = new FakeClock();
    const delays: number[] = [];
    let calls = 0;
    const done = retryTransient(
      () => {
        calls++;
        return calls <= 3 ? Promise.reject(notReady()) : Promise.resolve();
      },
      () => true,
      (_err, ms) => delays.push(ms),
      { clock, initialMs: 100, maxMs: 300 },
    );
    for (let i = 0; i < 5; i++) {
      await settle();
      clock.advance(300);
    }
    await done;
    expect(calls).to.equal(4);
    expect(delays).to.deep.equal([100, 200, 300]);
  });

  it('throws at once an error that retrying cannot fix (403)', async () => {
    let calls = 0;
    const forbidden = new ApiError(403, 'Forbidden', 'serviceexports is forbidden');
    const err = await retryTransient(
      () => {
        calls++;
        return Promise.reject(forbidden);
      },
      () => true,
      () => undefined,
    ).catch((e: unknown) => e);
    expect(err).to.equal(forbidden);
    expect(calls).to.equal(1);
  });

  it('gives up with the transient error once the term is over', async () => {
    const clock = new FakeClock();
    let current = true;
    let calls = 0;
    const done = retryTransient(
      () => {
        calls++;
        return Promise.reject(notReady());
      },
      () => current,
      () => undefined,
      { clock, initialMs: 100 },
    ).catch((e: unknown) => e);
    await settle();
    current = false;
    clock.advance(100);
    const err = await done;
    expect(err).to.be.instanceOf(ApiError);
    expect((err as ApiError).statusCode).to.equal(503);
    expect(calls).to.equal(1);
  });
});
