// Fixtures for the revision-tag tests: revision webhooks come from the real renderer, so the tag logic is tested
// against exactly what the IstioOperator controller applies.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { render } from '../../src/render/index.js';
import { deactivation, tagWebhookConfiguration, type WebhookConfiguration } from '../../src/render/revisiontag/index.js';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
export const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

/** Compares with testdata/<name>; UPDATE_GOLDEN=1 rewrites it instead. */
export function expectGolden(name: string, actual: string): void {
  const file = join(TESTDATA, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) expect.fail(`golden file ${file} is missing; run with UPDATE_GOLDEN=1 to create it`);
  const expected = readFileSync(file, 'utf8');
  if (actual !== expected) expect(actual.split('\n')).to.deep.equal(expected.split('\n'), `${name} differs (UPDATE_GOLDEN=1 refreshes it)`);
}

export interface RevisionOptions {
  /** Namespace of the IstioOperator (the control plane). */
  namespace?: string;
  /** An external control plane's injection URL; otherwise a local istiod. */
  url?: string;
  caBundle?: string;
}

/** The injector webhook the renderer produces for a revision ("default": the revisionless one), as the API server stores it. */
export function revisionWebhook(revision: string, o: RevisionOptions = {}): WebhookConfiguration {
  const spec: Record<string, unknown> = o.url ? { profile: 'external', values: { istiodRemote: { injectionURL: o.url } } } : { profile: 'minimal' };
  if (revision !== 'default') spec.revision = revision;
  const iop = { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: `cp-${revision}`, namespace: o.namespace ?? 'istio-system' }, spec };
  const mwc = render(iop as never).objects.find((x) => x.kind === 'MutatingWebhookConfiguration') as WebhookConfiguration | undefined;
  if (!mwc) throw new Error(`the renderer made no webhook for revision ${revision}`);
  const live = structuredClone(mwc);
  for (const w of live.webhooks ?? []) {
    if (o.caBundle) w.clientConfig.caBundle = o.caBundle;
    if (w.clientConfig.service) w.clientConfig.service.port ??= 443;
  }
  return live;
}

/** A tag webhook as the controller applies it for a RevisionTag in istio-system. */
export function liveTag(tag: string, revision: string, o: RevisionOptions & { owner?: string } = {}): WebhookConfiguration {
  const rev = revisionWebhook(revision, o);
  const cc = rev.webhooks?.[0]?.clientConfig ?? {};
  return tagWebhookConfiguration({ tag, revision, clientConfig: cc, owner: { name: tag, namespace: o.owner ?? 'istio-system' } });
}

/** The default revision's webhook after a default tag switched it off (as the API server merges the apply). */
export function deactivated(mwc: WebhookConfiguration): WebhookConfiguration {
  const patch = deactivation(mwc);
  const out = structuredClone(mwc);
  for (const w of out.webhooks ?? []) w.matchConditions = patch.webhooks?.find((p) => p.name === w.name)?.matchConditions;
  return out;
}

/** A hand-made injector webhook configuration with one webhook. */
export function foreignInjector(name: string, hook: string, namespaceLabels: Record<string, string>, labels: Record<string, string> = {}): WebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels },
    webhooks: [
      {
        name: hook,
        admissionReviewVersions: ['v1'],
        clientConfig: { url: 'https://legacy.example/inject' },
        sideEffects: 'None',
        namespaceSelector: { matchLabels: namespaceLabels },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
      },
    ],
  };
}

export function namespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return { metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
}

/** A pod, injected by `revision` when given (as Istio's injector leaves it). */
export function pod(ns: string, name: string, revision?: string, extra: { phase?: string; deleting?: boolean; status?: string } = {}): V1Pod {
  const p: V1Pod = { metadata: { name, namespace: ns, labels: {}, annotations: {} }, status: { phase: extra.phase ?? 'Running' } };
  if (revision !== undefined) {
    p.metadata!.annotations!['sidecar.istio.io/status'] = extra.status ?? JSON.stringify({ containers: ['istio-proxy'], revision });
    p.metadata!.labels!['istio.io/rev'] = revision;
    p.metadata!.labels!['security.istio.io/tlsMode'] = 'istio';
  }
  if (extra.deleting) p.metadata!.deletionTimestamp = new Date();
  return p;
}
