import { expect } from 'chai';
import { olderTags, planTag, tagWebhooks, webhooksOverlap, type TagInput, type TagPlan, type WebhookConfiguration } from '../../src/render/revisiontag/index.js';
import { CA, deactivated, foreignInjector, liveTag, revisionWebhook } from './fixtures.js';

const url = (rev: string) => `https://127.0.0.1:9443/inject/${rev}`;
const r176 = revisionWebhook('1-7-6', { url: url('1-7-6'), caBundle: CA });
const r183 = revisionWebhook('1-8-3', { url: url('1-8-3'), caBundle: CA });
const rDefault = revisionWebhook('default');

function input(tag: string, revision: string, webhooks: WebhookConfiguration[], extra: Partial<TagInput> = {}): TagInput {
  return { tag: { name: tag, namespace: 'istio-system' }, revision, webhooks, olderTags: [], ...extra };
}

function failure(plan: TagPlan): string {
  return plan.ok ? 'ok' : `${plan.reason}: ${plan.message}`;
}

describe('revision tags: the safety chain', () => {
  const cases: { name: string; input: TagInput; want: string | RegExp }[] = [
    { name: 'a tag pointing at a revision installed once passes every check', input: input('prod-stable', '1-8-3', [r176, r183]), want: 'ok' },
    {
      name: 'a tag named like an installed revision is a NameConflict',
      input: input('1-7-6', '1-8-3', [r176, r183]),
      want: /^NameConflict: tag "1-7-6" is the name of an installed revision \(MutatingWebhookConfiguration istio-sidecar-injector-1-7-6\)/,
    },
    { name: 'NameConflict is checked before RevisionNotFound', input: input('1-7-6', '9-9-9', [r176]), want: /^NameConflict/ },
    { name: 'the default tag may share its name with the default revision, which it switches off', input: input('default', '1-8-3', [rDefault, r183]), want: 'ok' },
    {
      name: 'a revision that is not installed is RevisionNotFound',
      input: input('prod-stable', '9-9-9', [r176, r183]),
      want: 'RevisionNotFound: revision "9-9-9" is not installed: no MutatingWebhookConfiguration is labelled istio.io/rev=9-9-9',
    },
    {
      name: 'a revision installed by two control planes is RevisionNotFound until spec.namespace picks one',
      input: input('prod-stable', '1-8-3', [r183, revisionWebhook('1-8-3', { namespace: 'other-system', url: url('x') })]),
      want: /^RevisionNotFound: revision "1-8-3" is installed 2 times \(istio-sidecar-injector-1-8-3, istio-sidecar-injector-1-8-3-other-system\)/,
    },
    {
      name: 'spec.namespace selects the control plane a revision is installed in',
      input: input('prod-stable', '1-8-3', [r183, revisionWebhook('1-8-3', { namespace: 'other-system', url: url('x') })], { controlPlaneNamespace: 'other-system' }),
      want: 'ok',
    },
    {
      name: 'a revision installed in another namespace than spec.namespace is RevisionNotFound',
      input: input('prod-stable', '1-8-3', [r183], { controlPlaneNamespace: 'elsewhere' }),
      want: /^RevisionNotFound: revision "1-8-3" is not installed in namespace elsewhere/,
    },
    { name: "another tag's webhook does not make its revision installed", input: input('canary', '1-8-3', [liveTag('prod-stable', '1-8-3')]), want: /^RevisionNotFound/ },
    { name: 'the tag does not overlap the revisions it moves between', input: input('prod-stable', '1-8-3', [r176, r183, liveTag('prod-stable', '1-7-6', { url: url('1-7-6') })]), want: 'ok' },
    {
      name: 'a hand-made injector selecting the same namespaces is an Overlap',
      input: input('canary', '1-8-3', [r183, foreignInjector('legacy', 'legacy.sidecar-injector.istio.io', { 'istio.io/rev': 'canary' })]),
      want: /^Overlap: tag "canary" would overlap other injection webhooks: rev\.namespace\.sidecar-injector\.istio\.io matches what legacy\.sidecar-injector\.istio\.io of MutatingWebhookConfiguration legacy matches/,
    },
    {
      name: 'a hand-made injector selecting other namespaces is no Overlap',
      input: input('canary', '1-8-3', [r183, foreignInjector('legacy', 'legacy.sidecar-injector.istio.io', { 'istio.io/rev': 'legacy' })]),
      want: 'ok',
    },
    {
      name: 'an older RevisionTag of the same name in another namespace is an Overlap',
      input: input('prod-stable', '1-8-3', [r183], { olderTags: [{ name: 'prod-stable', namespace: 'team-a' }] }),
      want: /^Overlap: .*rev\.namespace\.sidecar-injector\.istio\.io of RevisionTag team-a\/prod-stable/,
    },
    { name: 'older RevisionTags of other names are no Overlap', input: input('prod-stable', '1-8-3', [r183], { olderTags: [{ name: 'canary', namespace: 'istio-system' }, { name: 'default', namespace: 'istio-system' }] }), want: 'ok' },
    {
      name: 'a namesake webhook owned by another RevisionTag is an Overlap',
      input: input('prod-stable', '1-8-3', [r183, liveTag('prod-stable', '1-8-3', { owner: 'team-a' })]),
      want: /^Overlap: .*of MutatingWebhookConfiguration istio-revision-tag-prod-stable/,
    },
    {
      name: "an unowned namesake webhook (istioctl's) is adopted, not an Overlap",
      input: input('prod-stable', '1-8-3', [r183, { ...liveTag('prod-stable', '1-7-6'), metadata: { name: 'istio-revision-tag-prod-stable', labels: { 'istio.io/rev': '1-7-6', 'istio.io/tag': 'prod-stable' } } }]),
      want: 'ok',
    },
    {
      name: 'a webhook switched off by a false matchCondition never overlaps',
      input: input('prod-stable', '1-8-3', [r183, deactivated(foreignInjector('legacy', 'legacy.sidecar-injector.istio.io', { 'istio.io/rev': 'prod-stable' }))]),
      want: 'ok',
    },
    {
      name: "a webhook switched off with Istio's never-match selector never overlaps",
      input: input('prod-stable', '1-8-3', [r183, foreignInjector('old', 'old.sidecar-injector.istio.io', { 'istio.io/rev': 'prod-stable', 'istio.io/deactivated': 'never-match' })]),
      want: 'ok',
    },
    {
      name: 'a webhook for other resources than pods never overlaps',
      input: input('prod-stable', '1-8-3', [r183, { ...foreignInjector('svc', 'svc.sidecar-injector.istio.io', {}), webhooks: [{ ...foreignInjector('svc', 'svc.sidecar-injector.istio.io', {}).webhooks![0]!, rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['services'] }] }] }]),
      want: 'ok',
    },
    { name: 'prod-stable does not overlap a serving default tag', input: input('prod-stable', '1-8-3', [r183, rDefault, liveTag('default', '1-8-3', { url: url('1-8-3') })]), want: 'ok' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = failure(planTag(c.input));
      if (typeof c.want === 'string') expect(got).to.equal(c.want);
      else expect(got).to.match(c.want);
    });
  }

  it('copies the URL and caBundle of the revision and labels the webhook with tag, revision and owner', () => {
    const plan = planTag(input('prod-stable', '1-8-3', [r176, r183]));
    if (!plan.ok) expect.fail(failure(plan));
    expect(plan.desired.metadata?.name).to.equal('istio-revision-tag-prod-stable');
    expect(plan.desired.metadata?.labels).to.include({ 'istio.io/tag': 'prod-stable', 'istio.io/rev': '1-8-3', 'mizzen.dev/revisiontag': 'prod-stable', 'mizzen.dev/revisiontag-namespace': 'istio-system' });
    expect(plan.desired.webhooks?.map((w) => w.clientConfig)).to.deep.equal([
      { url: url('1-8-3'), caBundle: CA },
      { url: url('1-8-3'), caBundle: CA },
    ]);
    expect(plan.desired.webhooks?.map((w) => w.failurePolicy)).to.deep.equal(['Fail', 'Fail']);
    expect(plan.deactivations).to.deep.equal([]);
  });

  it("points a tag at a local istiod's Service in the control plane's namespace", () => {
    const plan = planTag(input('prod-stable', '1-8-3', [revisionWebhook('1-8-3', { namespace: 'istio-system' })]));
    if (!plan.ok) expect.fail(failure(plan));
    expect(plan.desired.webhooks?.[0]?.clientConfig).to.deep.equal({ service: { name: 'istiod-1-8-3', namespace: 'istio-system', path: '/inject', port: 443 } });
  });

  it("switches off every webhook of the default revision for the default tag, and nothing once that is done", () => {
    const plan = planTag(input('default', '1-8-3', [rDefault, r183]));
    if (!plan.ok) expect.fail(failure(plan));
    expect(plan.desired.webhooks?.map((w) => w.name)).to.deep.equal([
      'rev.namespace.sidecar-injector.istio.io',
      'rev.object.sidecar-injector.istio.io',
      'namespace.sidecar-injector.istio.io',
      'object.sidecar-injector.istio.io',
    ]);
    expect(plan.deactivations).to.have.length(1);
    expect(plan.deactivations[0]).to.deep.equal({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'istio-sidecar-injector' },
      webhooks: (rDefault.webhooks ?? []).map((w) => ({ name: w.name, matchConditions: [{ name: 'mizzen-default-tag-serves', expression: 'false' }] })),
    });
    const again = planTag(input('default', '1-8-3', [deactivated(rDefault), r183]));
    expect(again.ok && again.deactivations).to.deep.equal([]);
  });

  it("a tag's own webhooks never overlap each other, and the default tag's never overlap a revision's", () => {
    for (const tag of ['prod-stable', 'default']) {
      const hooks = tagWebhooks(tag, {});
      for (const [i, a] of hooks.entries()) for (const b of hooks.slice(i + 1)) expect(webhooksOverlap(a, b), `${tag}: ${a.name} / ${b.name}`).to.equal(false);
    }
    for (const a of tagWebhooks('default', {})) for (const b of r183.webhooks ?? []) expect(webhooksOverlap(a, b), `${a.name} / ${b.name}`).to.equal(false);
  });

  it('the default tag overlaps the default revision it has not switched off yet, which is why it switches it off', () => {
    const pairs = tagWebhooks('default', {}).flatMap((a) => (rDefault.webhooks ?? []).filter((b) => webhooksOverlap(a, b)).map((b) => `${a.name}/${b.name}`));
    expect(pairs).to.include('namespace.sidecar-injector.istio.io/namespace.sidecar-injector.istio.io');
    expect(pairs).to.include('rev.namespace.sidecar-injector.istio.io/rev.namespace.sidecar-injector.istio.io');
    const off = deactivated(rDefault);
    expect(tagWebhooks('default', {}).some((a) => (off.webhooks ?? []).some((b) => webhooksOverlap(a, b)))).to.equal(false);
  });

  it('older RevisionTags are those created earlier (then by namespace/name), not being deleted; a new tag is younger than all', () => {
    const t = (namespace: string, name: string, at: string, deleting = false) => ({ metadata: { namespace, name, creationTimestamp: at as unknown as Date, deletionTimestamp: deleting ? new Date() : undefined } });
    const all = [t('a', 'prod', '2026-01-01T00:00:00Z'), t('b', 'prod', '2026-01-01T00:00:01Z'), t('c', 'prod', '2026-01-01T00:00:01Z'), t('d', 'prod', '2026-01-01T00:00:00Z', true)];
    expect(olderTags(all, { namespace: 'b', name: 'prod' }, '2026-01-01T00:00:01Z')).to.deep.equal([{ namespace: 'a', name: 'prod' }]);
    expect(olderTags(all, { namespace: 'c', name: 'prod' }, '2026-01-01T00:00:01Z')).to.deep.equal([{ namespace: 'a', name: 'prod' }, { namespace: 'b', name: 'prod' }]);
    expect(olderTags(all, { namespace: 'e', name: 'prod' }, undefined).map((x) => x.namespace)).to.deep.equal(['a', 'b', 'c']);
  });
});
