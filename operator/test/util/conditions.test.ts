import { expect } from 'chai';
import { MAX_MESSAGE, boundMessage, setCondition } from '../../src/util/conditions.js';
import { buildStatus } from '../../src/controllers/istiooperator/status.js';

describe('bounded condition messages', () => {
  const huge = 'x'.repeat(40_000);

  it('keeps short messages as they are', () => {
    const m = 'spec.values.cni.cniBinDir: must be an absolute path, got "bin"';
    expect(boundMessage(m)).to.equal(m);
  });

  it('shortens a long quoted value, saying how long it was, and keeps the rest of the message', () => {
    const m = `spec.values.cni.cniBinDir: must be an absolute path, got "${huge}"; and spec.namespace: "${'n'.repeat(100_000)}" is not a DNS label`;
    const out = boundMessage(m);
    expect(out.length).to.be.below(MAX_MESSAGE);
    expect(out).to.include('spec.values.cni.cniBinDir: must be an absolute path, got "xxxx');
    expect(out).to.include('…" (40000 characters)');
    expect(out).to.include('…" (100000 characters); is not a DNS label'.replace('; is', ' is'));
  });

  it('cuts anything else at the bound', () => {
    const out = boundMessage(`a${' word'.repeat(20_000)}`);
    expect(out.length).to.be.within(MAX_MESSAGE - 16, MAX_MESSAGE);
    expect(out.endsWith('… (truncated)')).to.equal(true);
  });

  it('every condition and the IstioOperator status stay below the CRD cap of 32 KiB', () => {
    const conds = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: `x: got "${huge}"` }, new Date(0));
    expect(conds[0]!.message.length).to.be.below(32 * 1024);
    const status = buildStatus({ generation: 3, previous: undefined, now: new Date(0), failure: { reason: 'InvalidSpec', message: `spec.namespace: got "${huge}"` } }) as unknown as {
      message: string;
      conditions: { message: string }[];
    };
    expect(Buffer.byteLength(JSON.stringify(status))).to.be.below(32 * 1024);
    expect(status.message.length).to.be.at.most(MAX_MESSAGE);
    for (const c of status.conditions) expect(c.message.length).to.be.at.most(MAX_MESSAGE);
  });
});
