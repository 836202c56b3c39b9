import { expect } from 'chai';
import fc from 'fast-check';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/src/kube/client.js';
import { ApiError, InvalidInputError } from '../../operator/src/kube/errors.js';
import { R } from '../../operator/src/kube/resources.js';
import { e2e } from '../e2e/lib/env.js';
import { kubectl, waitFor } from '../e2e/lib/cluster.js';
import { logTail, metricSum, startOperatorProcess, stopOperatorProcess, type OperatorProcess } from '../e2e/lib/operator.js';
import { chartIdentity, refusedInLogs, refusedTotal, type ChartIdentity } from '../e2e/lib/rbac.js';
import { scale } from './scale.js';

/**
 * Generated IstioOperator, RevisionTag and ServiceExport documents (valid ones, boundary values and garbage: wrong
 * types deep in values and meshConfig, 100 KB strings, unicode, invalid revision and object names, relative and
 * `..` cniBinDir paths) applied to a real API server while the operator reconciles them. Each document goes to one
 * of a few object names, so the operator keeps chasing a changing spec. What must hold: the API server's
 * refusals name the field; the operator never exits; each object that remains ends with a status for its
 * current generation, and an invalid one says which field; a valid spec applied afterwards recovers it.
 * MIZZEN_FUZZ_DOCS (default 10,000) documents; MIZZEN_FUZZ_SEED (default printed) replays a run.
 */
const DOCS = scale('MIZZEN_FUZZ_DOCS', 10_000, 50_000);
const SEED = Number(process.env.MIZZEN_FUZZ_SEED ?? 20261201);
const NS = 'mz-fuzz';
const NAMES = 4;
const CONCURRENCY = 8;

interface Status {
  status?: string;
  message?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string; observedGeneration?: number }[];
}
type Doc = KubernetesObject & { spec?: unknown; status?: Status };

// ---- generators ------------------------------------------------------------------------------------------------

const big = fc.constantFrom('x'.repeat(100_000), 'é'.repeat(40_000), '/'.repeat(5000));
const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: big },
);
const tree = fc.jsonValue({ maxDepth: 3 });
const anything = fc.oneof(tree, text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const path = fc.oneof(fc.constantFrom('/opt/cni/bin', '/home/kubernetes/bin', 'relative/bin', '../../etc', '/opt/../etc', '', '/'), text);
const revisionName = fc.oneof(fc.constantFrom('', 'default', '1-8-3', 'canary', 'UPPER', 'a.b', '-x', 'x'.repeat(70), '1_8'), text);
const objectName = fc.constantFrom(...Array.from({ length: NAMES }, (_, i) => `fuzz-${i}`), 'Fuzz-Upper', 'x'.repeat(260), 'a..b');
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });

const iopSpec = fc.oneof(
  { weight: 1, arbitrary: anything },
  {
    weight: 6,
    arbitrary: fc.record(
      {
        profile: fc.oneof(fc.constantFrom('empty', 'minimal', 'remote', 'external', 'nope', 'default'), anything),
        revision: revisionName,
        namespace: fc.oneof(fc.constantFrom('istio-system', NS), text),
        hub: text,
        tag: anything,
        components: fc.oneof(
          anything,
          fc.record(
            {
              cni: fc.oneof(anything, fc.record({ enabled: fc.oneof(fc.boolean(), anything), namespace: fc.oneof(fc.constant('kube-system'), text), k8s: tree }, { requiredKeys: [] })),
              pilot: fc.oneof(anything, fc.record({ enabled: fc.oneof(fc.boolean(), anything), k8s: fc.oneof(tree, fc.record({ replicaCount: anything, resources: tree }, { requiredKeys: [] })) }, { requiredKeys: [] })),
              ingressGateways: fc.oneof(anything, fc.array(fc.record({ name: text, enabled: anything, k8s: tree }, { requiredKeys: [] }), { maxLength: 2 })),
            },
            { requiredKeys: [] },
          ),
        ),
        values: fc.oneof(
          anything,
          fc.record(
            {
              cni: fc.oneof(
                anything,
                fc.record({ cniBinDir: path, cniConfDir: path, repair: fc.oneof(fc.boolean(), tree), excludeNamespaces: fc.oneof(fc.array(text, { maxLength: 3 }), anything), logLevel: anything }, { requiredKeys: [] }),
              ),
              pilot: fc.oneof(anything, fc.record({ replicaCount: anything, env: tree }, { requiredKeys: [] })),
              global: fc.oneof(anything, fc.record({ hub: text, proxy: tree, istioNamespace: text }, { requiredKeys: [] })),
            },
            { requiredKeys: [] },
          ),
        ),
        meshConfig: fc.oneof(anything, fc.record({ concurrency: anything, defaultConfig: tree, accessLogFile: text }, { requiredKeys: [] })),
        unknownField: anything,
      },
      { requiredKeys: [] },
    ),
  },
);
const tagSpec = fc.oneof(anything, fc.record({ revision: revisionName, namespaceSelector: tree, unknownField: anything }, { requiredKeys: [] }));
const labels = fc.oneof(fc.constant(undefined), fc.dictionary(fc.oneof(fc.constantFrom('app', 'a/b', 'Bad Key!'), text), fc.oneof(fc.constantFrom('x', ''), text), { maxKeys: 2 }));

const doc: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ name: objectName, spec: opt(iopSpec) }).map(({ name, spec }) => ({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: NS }, ...(spec === undefined ? {} : { spec }) })) },
  { weight: 3, arbitrary: fc.record({ name: objectName, spec: opt(tagSpec) }).map(({ name, spec }) => ({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name, namespace: NS }, ...(spec === undefined ? {} : { spec }) })) },
  {
    weight: 2,
    arbitrary: fc.record({ name: objectName, labels, spec: opt(anything) }).map(
      ({ name, labels: l, spec }) => ({ apiVersion: 'multicluster.x-k8s.io/v1alpha1', kind: 'ServiceExport', metadata: { name, namespace: NS, ...(l ? { labels: l } : {}) }, ...(spec === undefined ? {} : { spec }) }),
    ),
  },
);

// ---- helpers ---------------------------------------------------------------------------------------------------

/** Does an API server refusal name the field it refuses (in its causes or its message)? */
function namesField(err: ApiError): boolean {
  if ((err.details?.causes ?? []).some((c) => !!c.field)) return true;
  return /\b(spec|metadata|status)(\.[\w[\]\-/"]+|\b)/.test(err.message);
}

/**
 * How a failed apply was refused: by the API server (400/422), by apply's type check (the API server answers a
 * value that does not fit the schema's types with 500 "failed to create typed patch object", naming each field),
 * by the client before sending (a string that is not UTF-8, naming the field), or otherwise (a finding).
 */
function classify(err: unknown): 'refused' | 'typed' | 'client' | 'other' {
  if (err instanceof ApiError && (err.statusCode === 422 || err.statusCode === 400)) return 'refused';
  if (err instanceof ApiError && err.statusCode === 500 && err.message.startsWith('failed to create typed patch object')) return 'typed';
  if (err instanceof InvalidInputError && err.field) return 'client';
  return 'other';
}

const shorten = (s: string): string => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters)` : s);

describe('reliability: fuzzed documents against a real API server with the operator running', function () {
  let client: KubeClient;
  let op: OperatorProcess;
  let identity: ChartIdentity | undefined;
  const kinds = [
    { t: R.istioOperator, kind: 'IstioOperator' },
    { t: R.revisionTag, kind: 'RevisionTag' },
    { t: R.serviceExport, kind: 'ServiceExport' },
  ];

  before(async function () {
    client = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    await kubectl(e2e.kubeconfig, ['create', 'namespace', NS]).catch(() => undefined);
    // An id an earlier suite set stays (a different --cluster-id would stop the operator).
    const property = await client.get<KubernetesObject & { spec?: { value?: string } }>(R.clusterProperty, 'cluster.clusterset.k8s.io');
    identity = await chartIdentity(e2e.kubeconfig);
    op = await startOperatorProcess(identity.kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator,revisiontag,serviceexport', '--cluster-id', property?.spec?.value ?? 'fuzz-c0']);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      operator log:\n${logTail(op)}`);
  });

  after(async function () {
    this.timeout(300_000);
    // Deleted while the operator runs: its finalizers remove what each IstioOperator installed.
    await kubectl(e2e.kubeconfig, ['-n', NS, 'delete', 'istiooperators,revisiontags,serviceexports', '--all', '--timeout=180s']).catch(() => undefined);
    await stopOperatorProcess(op);
    await identity?.remove();
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
    client.close();
  });

  it(`applies ${DOCS} generated documents: every refusal names its field, the operator never exits`, async function () {
    this.timeout((10 + DOCS / 400) * 60_000);
    console.log(`      fast-check seed ${SEED} (MIZZEN_FUZZ_SEED replays it), ${DOCS} documents, ${CONCURRENCY} at a time`);
    const docs = fc.sample(doc, { seed: SEED, numRuns: DOCS });
    const counts = { accepted: 0, refused: 0, typed: 0, client: 0, withoutField: 0, other: 0 };
    const unnamed: string[] = [];
    const others: string[] = [];
    const t0 = Date.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < docs.length) {
        const d = docs[next++]!;
        try {
          await client.apply(d, { force: true });
          counts.accepted++;
        } catch (err) {
          const outcome = classify(err);
          if (outcome === 'other') {
            counts.other++;
            if (others.length < 5) others.push(`${d.kind} ${d.metadata?.name ?? ''}: ${err instanceof ApiError ? `HTTP ${err.statusCode} ` : ''}${shorten(String(err))}`);
            continue;
          }
          counts.refused++;
          if (outcome !== 'refused') counts[outcome]++;
          if (err instanceof ApiError && !namesField(err)) {
            counts.withoutField++;
            if (unnamed.length < 5) unnamed.push(`${d.kind} ${d.metadata?.name ?? ''}: ${shorten(err.message)}`);
          }
        }
        expect(op.child.exitCode, `the operator exited while document ${next} was applied:\n${logTail(op)}`).to.equal(null);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const secs = (Date.now() - t0) / 1000;
    console.log(`      ${counts.accepted} accepted, ${counts.refused} refused (${counts.refused - counts.typed - counts.client} by admission, ${counts.typed} by apply's type check, ${counts.client} by the client before sending; ${counts.withoutField} without a field named), ${counts.other} other answers, in ${secs.toFixed(1)} s (${(DOCS / secs).toFixed(0)}/s)`);
    const reconciles = await metricSum(op, 'mizzen_reconcile_total');
    console.log(`      operator: ${reconciles} reconciles so far, still running`);
    expect(others, 'answers other than accepted or a refusal').to.deep.equal([]);
    expect(unnamed, 'refusals that name no field').to.deep.equal([]);
    expect(op.child.exitCode).to.equal(null);
  });

  it('every fuzzed object that remains gets a status for its current generation; an invalid one names the field', async function () {
    this.timeout(10 * 60_000);
    const report: string[] = [];
    for (const { t, kind } of kinds) {
      for (const o of (await client.list<Doc>(t, { namespace: NS })).items) {
        const name = o.metadata?.name ?? '';
        const looked = await waitFor(
          `${kind} ${name}: a status for generation ${o.metadata?.generation}`,
          async () => {
            const cur = await client.get<Doc>(t, name, NS);
            if (!cur) return undefined;
            const conds = cur.status?.conditions ?? [];
            return conds.length > 0 && conds.every((c) => c.observedGeneration === cur.metadata?.generation) ? cur : undefined;
          },
          180_000,
          500,
        );
        const failing = (looked.status?.conditions ?? []).filter((c) => c.status === 'False' && /Invalid|Valid/.test(`${c.type} ${c.reason ?? ''}`));
        for (const c of failing) {
          expect(c.message, `${kind} ${name}: ${c.type}=${c.status} ${c.reason ?? ''} says what is wrong`).to.be.a('string').and.not.equal('');
          expect((c.message ?? '').length, `${kind} ${name}: a bounded message`).to.be.below(32 * 1024);
        }
        report.push(`${kind} ${name}: ${(looked.status?.conditions ?? []).map((c) => `${c.type}=${c.status}${c.reason ? `/${c.reason}` : ''}`).join(' ')}`);
      }
    }
    console.log(report.map((l) => `      ${l}`).join('\n'));
    expect(op.child.exitCode).to.equal(null);
  });

  it('a valid spec applied afterwards recovers each fuzzed IstioOperator', async function () {
    this.timeout(10 * 60_000);
    const iops = (await client.list<Doc>(R.istioOperator, { namespace: NS })).items.map((o) => o.metadata?.name ?? '');
    // Distinct revisions, so that they do not claim one another's objects; nothing but the base is installed.
    for (const [i, name] of iops.entries()) {
      await client.apply({ apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: NS }, spec: { profile: 'empty', revision: `fuzz-fixed-${i}` } }, { force: true });
    }
    for (const name of iops) {
      await waitFor(
        `IstioOperator ${name} HEALTHY for its current generation after the fix`,
        async () => {
          const cur = await client.get<Doc>(R.istioOperator, name, NS);
          const ready = cur?.status?.conditions?.find((c) => c.type === 'Ready');
          return cur?.status?.status === 'HEALTHY' && ready?.observedGeneration === cur.metadata?.generation;
        },
        180_000,
        500,
      );
    }
    console.log(`      ${iops.length} IstioOperators recovered`);
    expect(op.child.exitCode).to.equal(null);
    // The operator ran with exactly the chart's RBAC (a token of its ServiceAccount): nothing refused.
    expect(await refusedTotal(op), "requests refused with the chart's RBAC").to.equal(0);
    expect(refusedInLogs(op.logs), 'log lines of refused requests').to.deep.equal([]);
  });
});
