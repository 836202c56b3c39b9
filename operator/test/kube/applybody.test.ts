import { expect } from 'chai';
import fc from 'fast-check';
import { applyBody } from '../../src/kube/applybody.js';
import { InvalidInputError } from '../../src/kube/errors.js';

describe('applyBody: a server-side apply body the API server can read as YAML', () => {
  it('escapes the characters YAML does not take raw, and reads back as the same object', () => {
    const obj = { metadata: { labels: { a: 'x\u0085y\u2028z\u2029\ufeff\u007f\u009f\ufffe' } }, spec: { emoji: '😀', text: 'é ü 中' } };
    const body = applyBody(obj);
    expect(body).to.not.match(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/);
    expect(body).to.contain('\\u0085').and.contain('\\u2028').and.contain('😀');
    expect(JSON.parse(body)).to.deep.equal(obj);
  });

  it('refuses a lone surrogate in a value or a key, and a key longer than YAML takes, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ spec: { values: { cni: { logLevel: 'a\ud800b' } } } }, 'spec.values.cni.logLevel'],
      [{ spec: { list: ['ok', 'x\udc00'] } }, 'spec.list[1]'],
      [{ metadata: { labels: { ['k\ud83d']: 'v' } } }, 'metadata.labels.k\ud83d'],
      [{ metadata: { labels: { ['x'.repeat(100_000)]: 'v' } } }, `metadata.labels.${'x'.repeat(40)}…`],
    ];
    for (const [obj, field] of cases) expect(() => applyBody(obj)).to.throw(InvalidInputError).with.property('field', field);
  });

  it('any JSON document either reads back identically or is refused naming a field (fast-check, seed 20261201)', function () {
    this.timeout(30_000);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 8 }), (doc, s) => {
        const obj = { spec: { doc, s } };
        try {
          expect(JSON.parse(applyBody(obj))).to.deep.equal(JSON.parse(JSON.stringify(obj)));
        } catch (err) {
          if (!(err instanceof InvalidInputError)) throw err;
          expect(err.field).to.match(/^spec\./);
        }
      }),
      { seed: 20261201, numRuns: 500 },
    );
  });
});
