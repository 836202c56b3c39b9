import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { EventRecorder, type EventClient } from '../../src/kube/events.js';
import { ApiError } from '../../src/kube/errors.js';
import { FakeClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/log.js';

interface Ev extends KubernetesObject {
  count?: number;
  reason?: string;
}

/** Events as the API server keeps them; each write waits until release() (or fails when told to). */
class FakeEvents implements EventClient {
  readonly events = new Map<string, Ev>();
  readonly writes: string[] = [];
  private held: (() => void)[] = [];
  hold = false;
  failCreates = 0;

  private async gate(): Promise<void> {
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }

  create = (async (obj: Ev): Promise<Ev> => {
    await this.gate();
    if (this.failCreates > 0) {
      this.failCreates--;
      throw new ApiError(503, 'ServiceUnavailable', 'etcd leader changed');
    }
    this.writes.push(`create ${obj.metadata!.name!} count=${obj.count}`);
    this.events.set(obj.metadata!.name!, structuredClone(obj));
    return obj;
  }) as EventClient['create'];

  mergePatch = (async (_t: unknown, name: string, _ns: string | undefined, patch: { count: number }): Promise<Ev> => {
    await this.gate();
    const ev = this.events.get(name);
    if (!ev) throw new ApiError(404, 'NotFound', `events "${name}" not found`);
    this.writes.push(`patch count=${patch.count}`);
    ev.count = patch.count;
    return ev;
  }) as EventClient['mergePatch'];
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

const iop: KubernetesObject = { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'x', namespace: 'istio-system', uid: 'u1' } };

describe('EventRecorder', () => {
  let api: FakeEvents;
  let clock: FakeClock;
  let rec: EventRecorder;
  beforeEach(() => {
    api = new FakeEvents();
    clock = new FakeClock(1_750_000_000_000);
    rec = new EventRecorder(api, 'mizzen', 'test', silentLogger(), clock);
  });

  it('a repeat emitted while the first is still being created bumps it: one Event with count 2, not two with count 1', async () => {
    api.hold = true;
    rec.emit(iop, 'Warning', 'ApplyFailed', 'the API server is restarting');
    rec.emit(iop, 'Warning', 'ApplyFailed', 'the API server is restarting');
    await flush();
    api.release();
    await flush();
    api.release();
    await flush();
    expect([...api.events.values()]).to.have.length(1);
    expect([...api.events.values()][0]!.count).to.equal(2);
  });

  it('collapses a burst of concurrent repeats into few writes with counts that only go up', async () => {
    api.hold = true;
    const all = Array.from({ length: 20 }, () => rec.record(iop, 'Warning', 'ApplyFailed', 'boom'));
    for (let i = 0; i < 5; i++) {
      await flush();
      api.release();
    }
    api.hold = false;
    api.release();
    await Promise.all(all);
    expect([...api.events.values()].map((e) => e.count)).to.deep.equal([20]);
    expect(api.writes).to.have.length.at.most(2);
    const counts = api.writes.map((w) => Number(/count=(\d+)/.exec(w)![1]));
    expect(counts).to.deep.equal([...counts].sort((a, b) => a - b));
  });

  it('keeps different reasons, messages and objects apart', async () => {
    await rec.record(iop, 'Warning', 'A', 'm');
    await rec.record(iop, 'Warning', 'B', 'm');
    await rec.record(iop, 'Warning', 'A', 'other');
    await rec.record({ ...iop, metadata: { ...iop.metadata, uid: 'u2' } }, 'Warning', 'A', 'm');
    await rec.record(iop, 'Normal', 'A', 'm');
    expect(api.events.size).to.equal(5);
  });

  it('creates a new Event after the ten-minute window, and again when the counted one is gone', async () => {
    await rec.record(iop, 'Normal', 'Applied', 'ok');
    await rec.record(iop, 'Normal', 'Applied', 'ok');
    expect(api.events.size).to.equal(1);
    clock.advance(600_000);
    await rec.record(iop, 'Normal', 'Applied', 'ok');
    expect(api.events.size).to.equal(2);
    api.events.clear();
    await rec.record(iop, 'Normal', 'Applied', 'ok');
    expect([...api.events.values()].map((e) => e.count)).to.deep.equal([2]);
  });

  it('after a failed create, the next repeat creates the Event (with every occurrence counted)', async () => {
    api.failCreates = 1;
    api.hold = true;
    const first = rec.record(iop, 'Warning', 'X', 'm');
    const second = rec.record(iop, 'Warning', 'X', 'm');
    api.hold = false;
    api.release();
    await first.then(
      () => expect.fail('the create failed'),
      () => undefined,
    );
    await second;
    expect([...api.events.values()].map((e) => e.count)).to.deep.equal([2]);
  });
});
