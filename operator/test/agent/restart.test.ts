import { expect } from 'chai';
import type { KubernetesObject } from '@kubernetes/client-node';
import { isRestart, owningDaemonSet } from '../../src/agent/restart.js';

const pod = (owner?: { kind: string; uid: string; controller?: boolean }): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'istio-cni-node-x1',
    namespace: 'kube-system',
    ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: 'istio-cni-node', uid: owner.uid, controller: owner.controller ?? true }] } : {}),
  },
});
const ds = (uid: string, deleting = false): KubernetesObject => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'istio-cni-node', namespace: 'kube-system', uid, ...(deleting ? { deletionTimestamp: new Date('2026-12-01T10:00:00Z') } : {}) },
});

describe('agent stop: a restart or a removal', () => {
  it('names the DaemonSet that controls the pod', () => {
    expect(owningDaemonSet(pod({ kind: 'DaemonSet', uid: 'u1' }))).to.equal('kube-system/istio-cni-node');
    expect(owningDaemonSet(pod({ kind: 'DaemonSet', uid: 'u1', controller: false }))).to.equal(undefined);
    expect(owningDaemonSet(pod())).to.equal(undefined);
    expect(owningDaemonSet(undefined)).to.equal(undefined);
  });

  it('is a restart while the same DaemonSet exists and is not being deleted', () => {
    expect(isRestart(pod({ kind: 'DaemonSet', uid: 'u1' }), ds('u1'))).to.equal(true);
  });

  it('is a removal when the DaemonSet is gone, being deleted, or a new one of the same name', () => {
    expect(isRestart(pod({ kind: 'DaemonSet', uid: 'u1' }), undefined)).to.equal(false);
    expect(isRestart(pod({ kind: 'DaemonSet', uid: 'u1' }), ds('u1', true))).to.equal(false);
    expect(isRestart(pod({ kind: 'DaemonSet', uid: 'u1' }), ds('u2'))).to.equal(false);
  });

  it('is a removal when the DaemonSet no longer places a pod on this node (nodeSelector, required node affinity)', () => {
    const withSpec = (spec: object): KubernetesObject => ({ ...ds('u1'), spec: { template: { spec } } }) as KubernetesObject;
    const p = pod({ kind: 'DaemonSet', uid: 'u1' });
    const labels = { 'kubernetes.io/os': 'linux', pool: 'mesh' };
    expect(isRestart(p, withSpec({ nodeSelector: { pool: 'mesh' } }), labels)).to.equal(true);
    expect(isRestart(p, withSpec({ nodeSelector: { pool: 'parked' } }), labels)).to.equal(false);
    const affinity = (operator: string, values?: string[]): object => ({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator, ...(values ? { values } : {}) }] }] } } },
    });
    expect(isRestart(p, withSpec(affinity('In', ['mesh', 'edge'])), labels)).to.equal(true);
    expect(isRestart(p, withSpec(affinity('NotIn', ['mesh'])), labels)).to.equal(false);
    expect(isRestart(p, withSpec(affinity('DoesNotExist')), labels)).to.equal(false);
    expect(isRestart(p, withSpec(affinity('Exists')), labels)).to.equal(true);
  });

  it('is a removal for an agent not run by a DaemonSet (a process, a static pod)', () => {
    expect(isRestart(pod(), ds('u1'))).to.equal(false);
    expect(isRestart(undefined, ds('u1'))).to.equal(false);
  });
});
