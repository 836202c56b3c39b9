import { expect } from 'chai';
import { render, toYaml } from '../../src/render/index.js';
import { expectGolden, loadIop } from './helpers.js';

// Each case renders testdata/<file>.iop.yaml and compares the YAML with testdata/<file>.golden.yaml.
// Refresh with: UPDATE_GOLDEN=1 npx mocha --config .mocharc.unit.json 'operator/test/render/**/*.test.ts'
const cases: { name: string; file: string }[] = [
  { name: 'the default profile renders base, istiod and the ingress gateway', file: 'profile-default' },
  { name: 'the demo profile adds the egress gateway and small resource requests', file: 'profile-demo' },
  { name: 'the minimal profile renders base and istiod only', file: 'profile-minimal' },
  { name: 'the empty profile renders nothing', file: 'profile-empty' },
  { name: 'the preview profile is the default profile with experimental proxy metadata', file: 'profile-preview' },
  { name: 'the openshift profile adds the CNI agent in kube-system with the multus paths', file: 'profile-openshift' },
  { name: 'the remote profile renders base, the mesh config and the webhook calling the external injector', file: 'profile-remote' },
  { name: 'the external profile renders only the webhook calling the external injector', file: 'profile-external' },
  { name: 'the seed YAML renders istiod and the CNI DaemonSet in kube-system with repair on', file: 'seed' },
  { name: 'read from the cluster (with a uid), the seed owns what it renders in its namespace, nothing else', file: 'seed-owned' },
  { name: 'revision 1-7-6 suffixes every control-plane object', file: 'revision-1-7-6' },
  { name: 'revision 1-8-3 suffixes every control-plane object', file: 'revision-1-8-3' },
  { name: 'k8s settings shape istiod, the gateway and the CNI agent', file: 'k8s-settings' },
  { name: 'overlays patch rendered objects by Istio path', file: 'overlays' },
  { name: 'an external control plane gets a URL webhook and istiod-remote Service and Endpoints', file: 'external-control-plane' },
];

describe('render golden files', () => {
  for (const c of cases) {
    it(c.name, () => {
      const yaml = toYaml(render(loadIop(c.file)).objects);
      expect(yaml.length).to.be.greaterThan(c.file === 'profile-empty' ? -1 : 0);
      expectGolden(c.file, yaml);
    });
  }
});
