import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { otherSpecManagers } from '../../src/cli/tag.js';

const tag = (managedFields: unknown[]): KubernetesObject => ({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name: 't', namespace: 'istio-system', managedFields } as never });
const spec = { 'f:spec': { '.': {}, 'f:revision': {} } };

describe('cli: who manages a RevisionTag spec', () => {
  it('Argo CD and kubectl apply own spec.revision: both are named, sorted, with their operation', () => {
    const t = tag([
      { manager: 'kubectl-client-side-apply', operation: 'Update', fieldsV1: spec },
      { manager: 'argocd-controller', operation: 'Apply', fieldsV1: spec },
    ]);
    expect(otherSpecManagers(t)).to.deep.equal(['argocd-controller (Apply)', 'kubectl-client-side-apply (Update)']);
  });

  it('our own entry, status writers and managers of metadata only do not count', () => {
    const t = tag([
      { manager: 'mizzen-tag', operation: 'Apply', fieldsV1: spec },
      { manager: 'mizzen-revisiontag', operation: 'Apply', subresource: 'status', fieldsV1: { 'f:status': {} } },
      { manager: 'kubectl-label', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': {} } } },
    ]);
    expect(otherSpecManagers(t)).to.deep.equal([]);
  });

  it('a tag that does not exist yet has no managers', () => {
    expect(otherSpecManagers(undefined)).to.deep.equal([]);
  });
});
