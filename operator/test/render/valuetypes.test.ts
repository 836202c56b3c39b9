import { expect } from 'chai';
import { InvalidSpecError, render } from '../../src/render/index.js';
import { iopWith, mustFind } from './helpers.js';

/** The InvalidSpecError render throws for this spec (fails the test when it renders). */
function refusal(spec: Record<string, unknown>): InvalidSpecError {
  try {
    render(iopWith({ profile: 'minimal', ...spec }));
  } catch (err) {
    expect(err).to.be.instanceOf(InvalidSpecError);
    return err as InvalidSpecError;
  }
  return expect.fail('rendered');
}

describe('types of well-known values and meshConfig settings', () => {
  const refused: { name: string; spec: Record<string, unknown>; field: string; says: RegExp }[] = [
    { name: 'a replica count that is not a number', spec: { values: { pilot: { replicaCount: 'x' } } }, field: 'values.pilot.replicaCount', says: /whole number.*"x"/ },
    { name: 'a negative replica count', spec: { values: { pilot: { replicaCount: -1 } } }, field: 'values.pilot.replicaCount', says: /0 or more/ },
    { name: 'values.pilot that is not an object', spec: { values: { pilot: 'big' } }, field: 'values.pilot', says: /object/ },
    { name: 'autoscaleEnabled as a string', spec: { values: { pilot: { autoscaleEnabled: 'yes' } } }, field: 'values.pilot.autoscaleEnabled', says: /true or false/ },
    { name: 'a proxy status port as text', spec: { values: { global: { proxy: { statusPort: 'fifteen' } } } }, field: 'values.global.proxy.statusPort', says: /whole number/ },
    { name: 'a proxy concurrency that is not an integer', spec: { meshConfig: { defaultConfig: { concurrency: 'lots' } } }, field: 'spec.meshConfig.defaultConfig.concurrency', says: /integer, not "lots"/ },
    { name: 'proxyMetadata with a number', spec: { meshConfig: { defaultConfig: { proxyMetadata: { ISTIO_META_DNS_CAPTURE: true } } } }, field: 'spec.meshConfig.defaultConfig.proxyMetadata', says: /map of strings/ },
    { name: 'an unknown access log encoding', spec: { meshConfig: { accessLogEncoding: 'XML' } }, field: 'spec.meshConfig.accessLogEncoding', says: /one of TEXT, JSON/ },
    { name: 'an unknown outbound traffic policy', spec: { meshConfig: { outboundTrafficPolicy: { mode: 'OPEN' } } }, field: 'spec.meshConfig.outboundTrafficPolicy.mode', says: /REGISTRY_ONLY, ALLOW_ANY/ },
    { name: 'enableTracing as a string', spec: { meshConfig: { enableTracing: 'true' } }, field: 'spec.meshConfig.enableTracing', says: /true or false/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}, naming the field`, () => {
      const err = refusal(c.spec);
      expect(err.field).to.equal(c.field);
      expect(err.message).to.match(c.says);
    });
  }

  it('quotes a huge wrong value shortened', () => {
    const err = refusal({ values: { pilot: { replicaCount: 'x'.repeat(100_000) } } });
    expect(err.message.length).to.be.below(200);
    expect(err.message).to.match(/100002 characters/);
  });

  it('takes well-typed settings, an integer written as digits included (as protobuf JSON does)', () => {
    const result = render(
      iopWith({
        profile: 'minimal',
        values: { pilot: { replicaCount: '3', autoscaleEnabled: false, traceSampling: 0.5, env: { A: 'b' } }, global: { proxy: { statusPort: 15020, privileged: false } } },
        meshConfig: { enableTracing: true, accessLogEncoding: 'JSON', outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' }, defaultConfig: { concurrency: 2, proxyMetadata: { A: 'b' } } },
      }),
    );
    const istiod = mustFind(result.objects, 'Deployment', 'istiod', 'istio-system') as { spec?: { replicas?: number } };
    expect(istiod.spec?.replicas).to.equal(3);
  });

  it('passes settings it does not know through, whatever their type', () => {
    expect(() => render(iopWith({ profile: 'minimal', values: { pilot: { somethingNew: { deep: [1, 'two'] } } }, meshConfig: { newSetting: 7 } }))).to.not.throw();
  });
});
