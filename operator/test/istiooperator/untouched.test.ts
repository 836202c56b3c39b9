import { expect } from 'chai';
import type { KubernetesObject, V1ManagedFieldsEntry } from '@kubernetes/client-node';
import { untouchedSinceApply } from '../../src/controllers/istiooperator/reconcile.js';
import { FIELD_MANAGER } from '../../src/kube/client.js';

const desired = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'istiod', namespace: 'istio-system', labels: { app: 'istiod' }, annotations: { 'mizzen.io/applied-hash': 'h' } },
  spec: { replicas: 1, template: { spec: { containers: [{ name: 'discovery', image: 'pilot:1.8.3' }] } } },
} as KubernetesObject;

const ours: V1ManagedFieldsEntry = {
  manager: FIELD_MANAGER,
  operation: 'Apply',
  time: '2026-12-01T10:00:05Z' as unknown as Date,
  fieldsType: 'FieldsV1',
  fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } },
};

function live(...others: V1ManagedFieldsEntry[]): KubernetesObject {
  return { ...desired, metadata: { ...desired.metadata, managedFields: [ours, ...others] } };
}

function writer(manager: string, time: string, fieldsV1: object, extra: Partial<V1ManagedFieldsEntry> = {}): V1ManagedFieldsEntry {
  return { manager, operation: 'Update', time: time as unknown as Date, fieldsType: 'FieldsV1', fieldsV1, ...extra };
}

describe('untouchedSinceApply (a new process decides whether a child needs applying)', () => {
  it('holds when only we and the status writers wrote', () => {
    const status = writer('kube-controller-manager', '2026-12-01T10:09:00Z', { 'f:status': { 'f:replicas': {} } }, { subresource: 'status' });
    expect(untouchedSinceApply(live(status), desired)).to.equal(true);
  });

  it('holds when a later writer owns only fields we do not set (the deployment revision annotation)', () => {
    const revision = writer('kube-controller-manager', '2026-12-01T10:00:06Z', { 'f:metadata': { 'f:annotations': { 'f:deployment.kubernetes.io/revision': {} } } });
    expect(untouchedSinceApply(live(revision), desired)).to.equal(true);
  });

  it('fails after `kubectl scale` (a later writer owns spec.replicas)', () => {
    const scale = writer('kubectl', '2026-12-01T10:07:00Z', { 'f:spec': { 'f:replicas': {} } }, { subresource: 'scale' });
    expect(untouchedSinceApply(live(scale), desired)).to.equal(false);
  });

  it('fails after an edit inside a list we set (a container image)', () => {
    const edit = writer('kubectl-edit', '2026-12-01T10:07:00Z', { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"discovery"}': { 'f:image': {} } } } } } });
    expect(untouchedSinceApply(live(edit), desired)).to.equal(false);
  });

  it('fails when a writer of our fields wrote in the same second as our apply, and holds when it wrote before', () => {
    const label = (time: string): V1ManagedFieldsEntry => writer('kubectl-label', time, { 'f:metadata': { 'f:labels': { 'f:app': {} } } });
    expect(untouchedSinceApply(live(label('2026-12-01T10:00:05Z')), desired)).to.equal(false);
    expect(untouchedSinceApply(live(label('2026-12-01T10:00:04Z')), desired)).to.equal(true);
  });

  it('fails when we never applied the object', () => {
    const other = writer('helm', '2026-12-01T09:00:00Z', { 'f:spec': { 'f:replicas': {} } });
    expect(untouchedSinceApply({ ...desired, metadata: { ...desired.metadata, managedFields: [other] } }, desired)).to.equal(false);
  });
});
