// Property-based tests of the path every IstioOperator takes in the controller and in `mizzen manifest generate`:
// schema validation, then render. Bad input must end as a refusal that names the field (InvalidSpecError, or a
// validation message starting with the field path), never as another exception: the controller retries any other
// error forever without writing a status, and the CLI dies with a stack trace.
//
// The documents mix valid settings, boundaries (empty, 63/64-character names, 100 KB strings, unicode) and invalid
// ones (wrong types deep in values/meshConfig/components, relative and ".." paths, __proto__ in overlay paths).
// The seed is fixed (printed with the figures); MIZZEN_FUZZ_RUNS raises the number of documents (default 1,000),
// MIZZEN_FUZZ_SEED replays another seed.
import { expect } from 'chai';
import fc from 'fast-check';
import { validate } from '../../src/api/index.js';
import { InvalidSpecError, PROFILE_NAMES, applySet, render } from '../../src/render/index.js';
import { MAX_MESSAGE, boundMessage } from '../../src/util/conditions.js';
import { iopWith } from './helpers.js';

const RUNS = Number(process.env.MIZZEN_FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.MIZZEN_FUZZ_SEED ?? 20261201);

const big = (n: number): fc.Arbitrary<string> => fc.constant('x'.repeat(n));
const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', '..', '../etc', 'relative/bin', '/opt/cni/bin', '/a/../b', 'UPPER CASE!', 'a,b', 'bad key!!', 'NOT_VALID', '\u0000', 'é', '🚀'),
  big(64),
  big(100_000),
);
/** Anything JSON can hold, small, plus the odd strings above. */
const junk: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 2, arbitrary: oddString }, { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1.5, 1e21, [], {}) });
/** Mostly a well-typed value, sometimes anything: deep wrong types are exercised without drowning the valid ones. */
const mostly = <T>(valid: fc.Arbitrary<T>, weight = 40): fc.Arbitrary<unknown> => fc.oneof({ weight, arbitrary: valid }, { weight: 1, arbitrary: junk });
const label = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/) }, { weight: 1, arbitrary: oddString });
const path = fc.oneof(
  fc.constantFrom('/opt/cni/bin', '/home/kubernetes/bin', '/etc/cni/net.d', 'relative/bin', '../bin', '/a/../b', '', '/'),
  oddString,
);
const overlayPath = fc.oneof(
  fc.constantFrom(
    'spec.replicas',
    'metadata.labels.x',
    'metadata.labels.__proto__.x',
    'constructor.prototype.x',
    '__proto__',
    'spec.template.spec.containers.[name:discovery].args[-1]',
    'spec.template.spec.containers[0].env[-1]',
    'a..b',
    'a[x]',
    'a.[name:x',
  ),
  fc.array(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'spec', '[0]', '[-1]', '[name:x]', 'metadata'), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 5 }).map((p) => p.join('.')),
);
const overlays = fc.array(
  fc.record(
    { apiVersion: fc.constantFrom('apps/v1', 'v1', 'x'), kind: fc.constantFrom('Deployment', 'Service', 'ConfigMap', 'DaemonSet', 'Nope'), name: fc.oneof(fc.constantFrom('istiod', 'istio-cni-node', 'istio'), label), patches: fc.array(fc.record({ path: overlayPath, value: junk }, { requiredKeys: ['path'] }), { maxLength: 3 }) },
    { requiredKeys: ['kind', 'name'] },
  ),
  { maxLength: 2 },
);
const k8s = fc.record(
  {
    replicaCount: mostly(fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 5 }) }, { weight: 1, arbitrary: fc.constant(-1) }), 60),
    resources: mostly(fc.record({ requests: fc.record({ memory: fc.constantFrom('512Mi', '512MB', 'lots', ''), cpu: fc.constantFrom('100m', '1', 'x') }, { requiredKeys: [] }) })),
    env: mostly(fc.array(fc.record({ name: label, value: oddString }), { maxLength: 2 })),
    nodeSelector: mostly(fc.dictionary(label, oddString, { maxKeys: 2 })),
    overlays: mostly(overlays),
    strategy: mostly(fc.record({ rollingUpdate: fc.record({ maxSurge: fc.oneof(fc.integer(), fc.constantFrom('25%', 'x')) }) })),
    service: mostly(fc.record({ type: fc.constantFrom('ClusterIP', 'LoadBalancer', 'Nope'), ports: fc.array(fc.record({ port: fc.integer({ min: -1, max: 70_000 }), name: label }), { maxLength: 2 }) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
/** Mostly the control-plane namespace (other values are refused unless they agree), sometimes anything. */
const namespace = fc.oneof({ weight: 12, arbitrary: fc.constant('istio-system') }, { weight: 2, arbitrary: label }, { weight: 1, arbitrary: big(100_000) });
const component = fc.record({ enabled: mostly(fc.boolean()), namespace, k8s: mostly(k8s) }, { requiredKeys: [] });
const remoteComponent = fc.record({ enabled: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.boolean() }), namespace, k8s: mostly(k8s) }, { requiredKeys: [] });
const baseComponent = fc.record({ enabled: mostly(fc.boolean()), k8s: mostly(k8s) }, { requiredKeys: [] });
const gateways = mostly(fc.array(fc.record({ name: label, enabled: mostly(fc.boolean()), namespace: label, k8s }, { requiredKeys: [] }), { maxLength: 2 }));
const cniValues = fc.record(
  {
    cniBinDir: path,
    cniConfDir: path,
    cniConfFileName: fc.oneof(fc.constantFrom('', '10-x.conflist', '../x', 'a/b'), oddString),
    excludeNamespaces: mostly(fc.array(label, { maxLength: 3 })),
    logLevel: mostly(fc.constantFrom('info', 'debug', 'warn', 'error', 'none', 'warning')),
    repair: mostly(
      fc.record({ enabled: mostly(fc.boolean()), brokenPodLabelKey: fc.oneof(fc.constantFrom('cni.istio.io/uninitialized', 'bad key!!', 'a/b/c'), oddString), brokenPodLabelValue: oddString, initContainerName: fc.oneof(fc.constantFrom('istio-validation', 'NOT_VALID'), oddString), labelPods: mostly(fc.boolean()) }, { requiredKeys: [] }),
    ),
    ambient: junk,
  },
  { requiredKeys: [] },
);
const values = fc.record(
  {
    cni: mostly(cniValues),
    pilot: mostly(fc.record({ replicaCount: fc.oneof(fc.integer({ min: 0, max: 3 }), junk), env: fc.oneof(fc.dictionary(label, oddString, { maxKeys: 2 }), junk), autoscaleEnabled: junk }, { requiredKeys: [] })),
    global: mostly(fc.record({ hub: oddString, tag: oddString, istioNamespace: namespace, proxy: mostly(fc.record({ image: oddString, privileged: fc.boolean() }, { requiredKeys: [] })), nativeNftables: mostly(fc.boolean()), meshID: oddString }, { requiredKeys: [] })),
    revisionTags: junk,
  },
  { requiredKeys: [] },
);
/** Documents meant to be valid: every setting well typed and in range (unicode and long values included). */
const validSpec = fc.record(
  {
    profile: fc.constantFrom(...PROFILE_NAMES.filter((p) => p !== 'remote' && p !== 'external')),
    revision: fc.oneof(fc.constantFrom('1-8-3', 'canary', 'default'), fc.stringMatching(/^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$/)),
    meshConfig: fc.record({ concurrency: fc.integer({ min: 0, max: 8 }), accessLogFile: fc.constantFrom('/dev/stdout', ''), defaultConfig: fc.record({ proxyMetadata: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,10}$/), fc.string({ unit: 'grapheme', maxLength: 30 }), { maxKeys: 2 }) }) }, { requiredKeys: [] }),
    values: fc.record(
      {
        cni: fc.record({ cniBinDir: fc.constantFrom('/opt/cni/bin', '/home/kubernetes/bin'), excludeNamespaces: fc.array(fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/), { maxLength: 3 }), logLevel: fc.constantFrom('info', 'debug', 'warn', 'error', 'none') }, { requiredKeys: [] }),
        pilot: fc.record({ env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,12}$/), fc.string({ unit: 'grapheme', maxLength: 40 }), { maxKeys: 3 }) }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
    components: fc.record(
      {
        cni: fc.record({ enabled: fc.boolean() }),
        pilot: fc.record({ k8s: fc.record({ replicaCount: fc.integer({ min: 1, max: 3 }), resources: fc.record({ requests: fc.record({ memory: fc.constantFrom('512Mi', '1Gi'), cpu: fc.constantFrom('100m', '1') }) }), nodeSelector: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z0-9]{0,8}$/), { maxKeys: 2 }) }, { requiredKeys: [] }) }),
        ingressGateways: fc.array(fc.record({ name: fc.constantFrom('istio-ingressgateway', 'gw-a', 'gw-b'), enabled: fc.boolean() }), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const noisySpec = fc.record(
  {
    profile: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...PROFILE_NAMES) }, { weight: 1, arbitrary: oddString }),
    revision: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('1-8-3', 'canary', 'default', '', 'a'.repeat(40)) }, { weight: 1, arbitrary: fc.constantFrom('A', 'a'.repeat(63), 'a'.repeat(64), '1.8.3') }, { weight: 1, arbitrary: label }),
    namespace,
    hub: oddString,
    tag: fc.oneof(oddString, fc.integer()),
    meshConfig: mostly(fc.record({ concurrency: fc.oneof(fc.integer({ min: 0, max: 4 }), junk), defaultConfig: junk, accessLogFile: oddString, trustDomain: label }, { requiredKeys: [] })),
    values: mostly(values),
    components: mostly(fc.record({ base: baseComponent, pilot: component, cni: component, ingressGateways: gateways, egressGateways: gateways, istiodRemote: remoteComponent }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
).chain((sp) => fc.oneof({ weight: 19, arbitrary: fc.constant(sp as Record<string, unknown>) }, { weight: 1, arbitrary: junk.map((j) => ({ ...sp, unknownField: j })) }));
/** One valid document in three; the others have boundaries and wrong values anywhere. */
const spec = fc.oneof({ weight: 1, arbitrary: validSpec }, { weight: 2, arbitrary: noisySpec });

/** fc.assert, with a counterexample shortened (100 KB strings) and the seed and path to replay it. */
function check<T>(property: fc.IProperty<T>): void {
  const out = fc.check(property, { seed: SEED, numRuns: RUNS });
  if (!out.failed) return;
  const example = JSON.stringify(out.counterexample, (_k, v: unknown) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}… (${v.length} characters)` : v));
  const cause = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  throw new Error(`property failed (seed ${SEED}, path "${out.counterexamplePath ?? ''}", MIZZEN_FUZZ_SEED=${SEED} replays it): ${cause.slice(0, 600)}\ncounterexample: ${example.slice(0, 3000)}`);
}

type Outcome = 'rendered' | 'refused by the schema' | 'refused by render';

/** The controller's and the CLI's path; throws only when a refusal does not say which field. */
function outcomeOf(doc: unknown): Outcome {
  const v = validate(doc);
  if (!v.valid) {
    expect(v.errors.length).to.be.greaterThan(0);
    for (const e of v.errors) {
      // "spec.x.y: Invalid value ..." or 'unknown field "spec.x.y"': the field is named either way.
      expect(e, "a schema refusal names the field").to.match(/^(spec|metadata|apiVersion|kind)\b.*: |"spec\.[^"]+"/);
    }
    expect(boundMessage(v.errors.join('; ')).length).to.be.at.most(MAX_MESSAGE);
    return 'refused by the schema';
  }
  try {
    const result = render(doc as Parameters<typeof render>[0]);
    for (const o of result.objects) expect(o.kind && o.metadata.name, 'every object has a kind and a name').to.be.a('string').and.not.equal('');
    return 'rendered';
  } catch (err) {
    if (!(err instanceof InvalidSpecError)) throw new Error(`render threw ${String((err as Error)?.name)} instead of naming a field: ${String((err as Error)?.message).slice(0, 300)}`, { cause: err });
    expect(err.field, 'the field').to.match(/^(spec|values|components|meshConfig)\b/);
    expect(err.field).to.not.include('undefined');
    expect(boundMessage(err.message).length).to.be.at.most(MAX_MESSAGE);
    return 'refused by render';
  }
}

describe('fuzzing IstioOperator validation and render (fast-check, fixed seed)', function () {
  this.timeout(600_000);
  const figures: string[] = [];
  after(() => {
    for (const f of figures) console.log(`      ${f}`);
  });

  it('refuses every bad document by naming a field, and never throws anything else', () => {
    const counts: Record<Outcome, number> = { rendered: 0, 'refused by the schema': 0, 'refused by render': 0 };
    const t0 = Date.now();
    check(
      fc.property(spec, (s) => {
        counts[outcomeOf(iopWith(s as never))]++;
      }),
    );
    figures.push(`seed ${SEED}: ${RUNS} documents in ${Date.now() - t0} ms — ${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ')}`);
    expect(counts.rendered, 'some documents are valid').to.be.greaterThan(0);
    expect(counts['refused by the schema'] + counts['refused by render'], 'some are refused').to.be.greaterThan(0);
    expect(({} as Record<string, unknown>).x, 'Object.prototype untouched').to.equal(undefined);
  });

  it('takes any --set assignment either as a change or as a refusal naming the path, never a TypeError', () => {
    const base = { profile: 'minimal' };
    let applied = 0;
    let refused = 0;
    check(
      fc.property(overlayPath, fc.oneof(fc.constantFrom('true', 'null', '7', '{a:b}', '[1,2]', ''), fc.string({ maxLength: 20 })), (p, raw) => {
        try {
          const next = applySet(base, `${p}=${raw}`);
          expect(next).to.be.an('object');
          applied++;
        } catch (err) {
          if (!(err instanceof InvalidSpecError)) throw new Error(`--set ${p}=${raw} threw ${String((err as Error)?.name)}: ${String((err as Error)?.message).slice(0, 200)}`, { cause: err });
          refused++;
        }
      }),
    );
    figures.push(`seed ${SEED}: ${RUNS} --set assignments — ${applied} applied, ${refused} refused naming the path`);
    expect(({} as Record<string, unknown>).x, 'Object.prototype untouched').to.equal(undefined);
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'x')).to.equal(false);
  });
});
