import { expect } from 'chai';
import { toYaml, type KubernetesObject } from '../../src/render/index.js';
import {
  istiodClientConfig,
  neverMatches,
  reactivations,
  revisionClientConfig,
  serves,
  tagWebhookConfiguration,
  type WebhookConfiguration,
} from '../../src/render/revisiontag/index.js';
import { generateTagWebhook } from '../../src/cli/tag.js';
import { CA, deactivated, expectGolden, liveTag, revisionWebhook } from './fixtures.js';

const yaml = (o: WebhookConfiguration) => toYaml([o as KubernetesObject]);

describe('revision tags: the tag webhook', () => {
  // Refresh with UPDATE_GOLDEN=1.
  it('prod-stable on an external control plane calls its injection URL with its caBundle', () => {
    const cc = { url: 'https://127.0.0.1:9443/inject', caBundle: CA };
    expectGolden('prod-stable-external.golden.yaml', yaml(tagWebhookConfiguration({ tag: 'prod-stable', revision: '1-8-3', clientConfig: cc, owner: { name: 'prod-stable', namespace: 'istio-system' } })));
  });

  it('the default tag also serves istio-injection=enabled namespaces and sidecar.istio.io/inject=true pods', () => {
    const cc = istiodClientConfig('1-8-3', 'istio-system');
    expectGolden('default-istiod.golden.yaml', yaml(tagWebhookConfiguration({ tag: 'default', revision: '1-8-3', clientConfig: cc, owner: { name: 'default', namespace: 'istio-system' } })));
  });

  it('renders the same bytes twice', () => {
    const input = { tag: 'prod-stable', revision: '1-7-6', clientConfig: { url: 'https://x/inject' } };
    expect(yaml(tagWebhookConfiguration(input))).to.equal(yaml(tagWebhookConfiguration(structuredClone(input))));
  });

  it('`mizzen tag generate` prints the webhook the controller renders, without owner labels', () => {
    const out = generateTagWebhook({ tag: 'prod-stable', revision: '1-8-3', controlPlaneNamespace: 'istio-system' });
    expect(out).to.equal(yaml(tagWebhookConfiguration({ tag: 'prod-stable', revision: '1-8-3', clientConfig: istiodClientConfig('1-8-3', 'istio-system') })));
    expect(out).not.to.include('mizzen.dev/revisiontag');
    expect(generateTagWebhook({ tag: 'canary', revision: 'default', controlPlaneNamespace: 'mesh', injectionUrl: 'https://istiod.example:15017/inject' })).to.include('url: https://istiod.example:15017/inject');
  });

  it('`mizzen tag generate` refuses names that are not DNS labels and plain-http URLs', () => {
    expect(() => generateTagWebhook({ tag: 'Prod_Stable', revision: '1-8-3', controlPlaneNamespace: 'istio-system' })).to.throw(/metadata\.name/);
    expect(() => generateTagWebhook({ tag: 'prod', revision: '1.8.3', controlPlaneNamespace: 'istio-system' })).to.throw(/spec\.revision/);
    expect(() => generateTagWebhook({ tag: 'prod', revision: '1-8-3', controlPlaneNamespace: 'istio-system', injectionUrl: 'http://x/inject' })).to.throw(/https/);
  });

  it("copies a revision's URL or Service, and its caBundle only when it has one", () => {
    expect(revisionClientConfig(revisionWebhook('1-8-3', { url: 'https://a/inject', caBundle: CA }))).to.deep.equal({ url: 'https://a/inject', caBundle: CA });
    expect(revisionClientConfig(revisionWebhook('1-8-3', { namespace: 'mesh' }))).to.deep.equal({ service: { name: 'istiod-1-8-3', namespace: 'mesh', path: '/inject', port: 443 } });
    expect(revisionClientConfig({ metadata: { name: 'x' }, webhooks: [] })).to.equal(undefined);
  });

  describe('serves: the live webhook needs no apply', () => {
    const desired = liveTag('prod-stable', '1-8-3', { url: 'https://a/inject', caBundle: CA });
    const withDefaults = (o: WebhookConfiguration): WebhookConfiguration => {
      const l = structuredClone(o);
      l.metadata = { ...l.metadata, uid: 'u', resourceVersion: '7', labels: { ...l.metadata?.labels, extra: 'kept' } };
      for (const w of l.webhooks ?? []) w.matchConditions = [];
      return l;
    };
    it('when it holds every desired field, whatever the server added', () => expect(serves(withDefaults(desired), desired)).to.equal(true));
    it('not when there is no live webhook', () => expect(serves(undefined, desired)).to.equal(false));
    it('not when it points at another revision', () => expect(serves(liveTag('prod-stable', '1-7-6', { url: 'https://b/inject', caBundle: CA }), desired)).to.equal(false));
    it("not when the revision's caBundle rotated", () => expect(serves(liveTag('prod-stable', '1-8-3', { url: 'https://a/inject', caBundle: 'b2xk' }), desired)).to.equal(false));
    it('not when it still has a caBundle the revision dropped', () => expect(serves(desired, liveTag('prod-stable', '1-8-3', { url: 'https://a/inject' }))).to.equal(false));
    it('not when it has a webhook too many (a former default tag)', () => {
      const extra = structuredClone(desired);
      extra.webhooks = [...(extra.webhooks ?? []), { ...extra.webhooks![0]!, name: 'namespace.sidecar-injector.istio.io' }];
      expect(serves(extra, desired)).to.equal(false);
    });
  });

  it('a false matchCondition and the istio.io/deactivated selector both mean never', () => {
    const hook = revisionWebhook('default').webhooks![0]!;
    expect(neverMatches(hook)).to.equal(false);
    expect(neverMatches(deactivated(revisionWebhook('default')).webhooks![0]!)).to.equal(true);
    expect(neverMatches({ ...hook, namespaceSelector: { matchLabels: { 'istio.io/deactivated': 'never-match' } } })).to.equal(true);
    expect(neverMatches({ ...hook, matchConditions: [{ name: 'x', expression: 'object.metadata.name != ""' }] })).to.equal(false);
  });

  it("switches the default revision back on by releasing the tag controller's fields, only where it switched it off", () => {
    const rDefault = revisionWebhook('default');
    expect(reactivations([rDefault, revisionWebhook('1-8-3')])).to.deep.equal([]);
    expect(reactivations([deactivated(rDefault), deactivated(revisionWebhook('1-8-3'))])).to.deep.equal([
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'istio-sidecar-injector' } },
    ]);
  });
});
