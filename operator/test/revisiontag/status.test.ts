import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RevisionTag, RevisionTagStatus } from '../../src/api/index.js';
import { STATUS_NAMESPACES, buildTagStatus, type TagStatusInput } from '../../src/controllers/revisiontag/status.js';
import { describeTags, formatTagTable } from '../../src/cli/tag.js';
import { namespace } from './fixtures.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:05:00Z');
const base: TagStatusInput = { tag: 'prod-stable', generation: 2, previous: undefined, now: t0, revision: '1-8-3', webhookName: 'istio-revision-tag-prod-stable', served: '1-8-3', namespaces: ['app'], podsNeedingRestart: 3 };

describe('revision tags: status', () => {
  it('a serving tag is Ready, InUse by its namespaces, and reports the pods still on another revision', () => {
    const s = buildTagStatus(base);
    expect(s).to.deep.include({ revision: '1-8-3', namespaces: ['app'], podsNeedingRestart: 3, observedGeneration: 2 });
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).to.deep.equal([
      ['Ready', 'True', 'Serving', 'MutatingWebhookConfiguration istio-revision-tag-prod-stable sends pods to revision 1-8-3'],
      ['InUse', 'True', 'NamespacesSelected', 'Selected by 1 namespace(s): app; 3 pod(s) there still run a sidecar from another revision'],
    ]);
  });

  it('a failed check makes Ready False with its reason and says which revision still serves', () => {
    const s = buildTagStatus({ ...base, revision: '9-9-9', failure: { reason: 'RevisionNotFound', message: 'revision "9-9-9" is not installed' } });
    expect(s.revision).to.equal('1-8-3');
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect([ready?.status, ready?.reason, ready?.message]).to.deep.equal(['False', 'RevisionNotFound', 'Revision "9-9-9" is not installed; MutatingWebhookConfiguration istio-revision-tag-prod-stable still sends pods to revision 1-8-3']);
  });

  it('a tag that never served has no status.revision and says no webhook serves it', () => {
    const s = buildTagStatus({ ...base, served: undefined, namespaces: [], failure: { reason: 'NameConflict', message: 'tag "1-7-6" is the name of an installed revision' } });
    expect(s).not.to.have.property('revision');
    expect(s.conditions?.map((c) => c.message)).to.deep.equal(['Tag "1-7-6" is the name of an installed revision; no webhook serves the tag', 'No namespace is labelled istio.io/rev=prod-stable']);
  });

  it('keeps lastTransitionTime unless a condition flips', () => {
    const first = buildTagStatus(base);
    const same = buildTagStatus({ ...base, previous: first, now: t1, podsNeedingRestart: 0 });
    expect(same.conditions?.map((c) => c.lastTransitionTime)).to.deep.equal(['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z']);
    const flipped = buildTagStatus({ ...base, previous: first, now: t1, namespaces: [] });
    expect(flipped.conditions?.map((c) => c.lastTransitionTime)).to.deep.equal(['2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z']);
  });
});

describe('revision tags: `mizzen tag list`', () => {
  const tag = (name: string, ns: string, revision: string, status?: RevisionTagStatus): RevisionTag & KubernetesObject => ({
    apiVersion: 'install.istio.io/v1alpha1',
    kind: 'RevisionTag',
    metadata: { name, namespace: ns },
    spec: { revision },
    status,
  });
  const nss = [namespace('app', { 'istio.io/rev': 'prod-stable' }), namespace('app2', { 'istio.io/rev': 'prod-stable' }), namespace('web', { 'istio-injection': 'enabled' })];

  it("prints istioctl's TAG REVISION NAMESPACES table, sorted by revision then tag", () => {
    const rows = describeTags([tag('prod-stable', 'istio-system', '1-8-3', { revision: '1-8-3' }), tag('default', 'istio-system', '1-8-3'), tag('canary', 'istio-system', '1-9-0')], nss);
    expect(formatTagTable(rows)).to.equal(['TAG         REVISION NAMESPACES', 'default     1-8-3    web', 'prod-stable 1-8-3    app,app2', 'canary      1-9-0'].join('\n') + '\n');
  });

  it('shows the revision that really serves, and what the tag wants when a check refuses it', () => {
    const blocked = tag('prod-stable', 'istio-system', '9-9-9', { revision: '1-8-3', conditions: [{ type: 'Ready', status: 'False', reason: 'RevisionNotFound', message: '', lastTransitionTime: '' }] });
    const rows = describeTags([blocked], nss);
    expect(rows).to.deep.equal([{ tag: 'prod-stable', revision: '1-8-3', namespaces: ['app', 'app2'], namespace: 'istio-system', desiredRevision: '9-9-9', reason: 'RevisionNotFound' }]);
    expect(formatTagTable(rows).split('\n')[1]).to.equal('prod-stable 1-8-3 (wants 9-9-9: RevisionNotFound) app,app2');
    const never = tag('1-7-6', 'istio-system', '1-8-3', { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False', reason: 'NameConflict', message: '', lastTransitionTime: '' }] });
    expect(formatTagTable(describeTags([never], nss)).split('\n')[1]).to.equal('1-7-6 <none> (wants 1-8-3: NameConflict)');
  });
});

describe('revision tags: a status bounded however many namespaces use the tag', () => {
  it('keeps the first 100 namespaces in status.namespaces and the count in InUse', () => {
    const namespaces = Array.from({ length: 2000 }, (_, i) => `ns-${String(i).padStart(4, '0')}`);
    const s = buildTagStatus({ tag: 't', generation: 1, previous: undefined, now: new Date(0), revision: 'r', webhookName: 'w', served: 'r', namespaces, podsNeedingRestart: 0 });
    expect(s.namespaces).to.have.length(STATUS_NAMESPACES);
    expect(s.namespaces?.[0]).to.equal('ns-0000');
    const inUse = s.conditions?.find((c) => c.type === 'InUse');
    expect(inUse?.message).to.match(/^Selected by 2000 namespace\(s\): ns-0000, .* and 1980 more$/);
    expect(Buffer.byteLength(JSON.stringify(s))).to.be.below(8 * 1024);
  });
});
