import { expect } from 'chai';
import { checkCniRepair, normalizeCniRepair, validate } from '../../src/api/index.js';
import { fieldPath } from '../../src/api/validate.js';

type Obj = Record<string, unknown>;

const seed = (): Obj => ({
  apiVersion: 'install.istio.io/v1alpha1',
  kind: 'IstioOperator',
  metadata: { namespace: 'istio-system', name: 'example-istiocontrolplane' },
  spec: {
    profile: 'minimal',
    components: { cni: { enabled: true, namespace: 'kube-system' } },
    values: { cni: { cniBinDir: '/home/kubernetes/bin', repair: true } },
  },
});

const iop = (spec: Obj): Obj => ({ ...seed(), spec });
const cniRepair = (repair: unknown): Obj => iop({ values: { cni: { repair } } });

const revisionTag = (spec?: Obj, name = 'prod-stable'): Obj => ({
  apiVersion: 'install.istio.io/v1alpha1',
  kind: 'RevisionTag',
  metadata: { namespace: 'istio-system', name },
  ...(spec === undefined ? {} : { spec }),
});

const serviceExport = (version: string, spec?: Obj): Obj => ({
  apiVersion: `multicluster.x-k8s.io/${version}`,
  kind: 'ServiceExport',
  metadata: { namespace: 'sample', name: 'helloworld' },
  ...(spec === undefined ? {} : { spec }),
});

const serviceImport = (version: string, spec: Obj): Obj => ({
  apiVersion: `multicluster.x-k8s.io/${version}`,
  kind: 'ServiceImport',
  metadata: { namespace: 'sample', name: 'helloworld' },
  spec,
});

const condition = {
  type: 'Ready',
  status: 'True',
  reason: 'Exported',
  message: '',
  lastTransitionTime: '2025-01-02T03:04:05Z',
};

describe('validate', () => {
  const validCases: Array<{ name: string; obj: Obj }> = [
    { name: 'accepts the seed IstioOperator', obj: seed() },
    { name: 'accepts an IstioOperator without a spec', obj: { ...seed(), spec: undefined } },
    { name: 'accepts values.cni.repair set to false', obj: cniRepair(false) },
    {
      name: 'accepts values.cni.repair as an object of booleans and strings',
      obj: cniRepair({ enabled: true, labelPods: false, deletePods: true, repairPods: true, brokenPodLabelKey: 'broken' }),
    },
    { name: 'accepts a numeric image tag', obj: iop({ tag: 124, values: { global: { tag: '1.24.2' } } }) },
    { name: 'accepts a revision of lowercase letters, digits and dashes', obj: iop({ revision: '1-24-2' }) },
    {
      name: 'accepts Istio values it does not type, and a full k8s block on a gateway',
      obj: iop({
        meshConfig: { accessLogFile: '/dev/stdout' },
        values: { pilot: { autoscaleEnabled: false }, global: { proxy: { image: 'proxyv2', privileged: true } } },
        components: {
          ingressGateways: [
            {
              name: 'istio-ingressgateway',
              enabled: true,
              k8s: {
                replicaCount: 2,
                resources: { requests: { cpu: '100m', memory: 128 } },
                nodeSelector: { 'kubernetes.io/os': 'linux' },
                service: { type: 'LoadBalancer', ports: [{ port: 80, targetPort: 8080 }] },
                overlays: [{ kind: 'Deployment', name: 'x', patches: [{ path: 'spec.replicas', value: 3 }] }],
              },
            },
          ],
        },
      }),
    },
    {
      name: 'accepts status written by the controller',
      obj: {
        ...seed(),
        status: {
          status: 'HEALTHY',
          observedGeneration: 3,
          componentStatus: { Cni: { status: 'HEALTHY' }, Pilot: { status: 'ERROR', error: 'istiod not ready' } },
          conditions: [condition],
        },
      },
    },
    { name: 'accepts a RevisionTag pointing at a revision', obj: revisionTag({ revision: '1-24-2' }) },
    { name: 'accepts a v1alpha1 ServiceExport without a spec', obj: serviceExport('v1alpha1') },
    {
      name: 'accepts a v1beta1 ServiceExport with exported labels and status',
      obj: { ...serviceExport('v1beta1', { exportedLabels: { tier: 'web' } }), status: { conditions: [condition] } },
    },
    {
      name: 'accepts a ClusterSetIP ServiceImport',
      obj: serviceImport('v1alpha1', { type: 'ClusterSetIP', ips: ['10.0.0.1'], ports: [{ port: 80, protocol: 'TCP' }] }),
    },
    {
      name: 'accepts a Headless v1beta1 ServiceImport with traffic distribution',
      obj: serviceImport('v1beta1', { type: 'Headless', ports: [], trafficDistribution: 'PreferClose' }),
    },
    {
      name: 'accepts a ClusterProperty',
      obj: { apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name: 'cluster.clusterset.k8s.io' }, spec: { value: 'east' } },
    },
  ];

  for (const { name, obj } of validCases) {
    it(name, () => {
      expect(validate(obj)).to.deep.equal({ valid: true });
    });
  }

  const invalidCases: Array<{ name: string; obj: unknown; errors: string[] }> = [
    {
      name: 'rejects a numeric profile, naming spec.profile',
      obj: iop({ profile: 42 }),
      errors: ['spec.profile: Invalid value: "integer": spec.profile in body must be of type string', 'spec.profile: Unsupported value: 42'],
    },
    { name: 'rejects an unknown profile', obj: iop({ profile: 'blue' }), errors: ['spec.profile: Unsupported value: "blue": supported values: "default"'] },
    {
      name: 'rejects values.cni.repair given as a string',
      obj: cniRepair('yes'),
      errors: ['spec.values.cni.repair: Invalid value: "string": spec.values.cni.repair must be a boolean or an object'],
    },
    {
      name: 'rejects values.cni.repair with a non-boolean flag',
      obj: cniRepair({ enabled: 'true' }),
      errors: ['spec.values.cni.repair.enabled: Invalid value: "string": spec.values.cni.repair.enabled in body must be of type boolean'],
    },
    { name: 'rejects values.cni.repair with a field Istio does not have', obj: cniRepair({ fix: true }), errors: ['unknown field "spec.values.cni.repair.fix"'] },
    {
      name: 'rejects a revision that is not a DNS label',
      obj: iop({ revision: 'Bad_Rev' }),
      errors: [`spec.revision: Invalid value: "Bad_Rev": spec.revision in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`],
    },
    { name: 'rejects a revision longer than 63 characters', obj: iop({ revision: 'a'.repeat(64) }), errors: ['spec.revision: Too long: may not be more than 63 bytes'] },
    { name: 'rejects a boolean image tag', obj: iop({ tag: true }), errors: ['spec.tag: Invalid value: "boolean": spec.tag in body must be of type integer,string'] },
    { name: 'rejects a field the schema does not declare', obj: iop({ profiles: 'demo' }), errors: ['unknown field "spec.profiles"'] },
    {
      name: 'rejects a fractional replica count, naming the array index',
      obj: iop({ components: { egressGateways: [{ name: 'egress', k8s: { replicaCount: 1.5 } }] } }),
      errors: ['spec.components.egressGateways[0].k8s.replicaCount: Invalid value: "number": spec.components.egressGateways[0].k8s.replicaCount in body must be of type integer'],
    },
    {
      name: 'rejects an unknown controller status',
      obj: { ...seed(), status: { status: 'DONE' } },
      errors: ['status.status: Unsupported value: "DONE"'],
    },
    { name: 'rejects a RevisionTag without a spec', obj: revisionTag(), errors: ['spec: Required value'] },
    { name: 'rejects a RevisionTag without spec.revision', obj: revisionTag({ namespace: 'istio-system' }), errors: ['spec.revision: Required value'] },
    {
      name: 'rejects a RevisionTag whose name cannot be a label value',
      obj: revisionTag({ revision: 'default' }, 'Prod_Stable'),
      errors: [`metadata.name: Invalid value: "Prod_Stable"`],
    },
    {
      name: 'rejects a ServiceImport of another type',
      obj: serviceImport('v1alpha1', { type: 'ClusterIP', ports: [] }),
      errors: ['spec.type: Unsupported value: "ClusterIP": supported values: "ClusterSetIP", "Headless"'],
    },
    {
      name: 'rejects a v1beta1 ServiceImport of another type',
      obj: serviceImport('v1beta1', { type: 'LoadBalancer', ports: [] }),
      errors: ['spec.type: Unsupported value: "LoadBalancer"'],
    },
    { name: 'rejects a ServiceImport without ports', obj: serviceImport('v1beta1', { type: 'Headless' }), errors: ['spec.ports: Required value'] },
    {
      name: 'rejects a ServiceImport with three IPs',
      obj: serviceImport('v1alpha1', { type: 'ClusterSetIP', ports: [], ips: ['a', 'b', 'c'] }),
      errors: ['spec.ips: Too many: 3: must have at most 2 items'],
    },
    {
      name: 'rejects a ServiceExport condition without a reason',
      obj: { ...serviceExport('v1beta1'), status: { conditions: [{ ...condition, reason: undefined }] } },
      errors: ['status.conditions[0].reason: Required value'],
    },
    {
      name: 'rejects a ServiceExport with non-string exported labels',
      obj: serviceExport('v1alpha1', { exportedLabels: { 'app.kubernetes.io/name': 1 } }),
      errors: ['spec.exportedLabels.app.kubernetes.io/name: Invalid value: "integer"'],
    },
    {
      name: 'rejects an empty ClusterProperty value',
      obj: { apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name: 'id.k8s.io' }, spec: { value: '' } },
      errors: ['spec.value: Invalid value: "": spec.value in body should be at least 1 chars long'],
    },
    { name: 'rejects a kind it has no schema for', obj: { apiVersion: 'v1', kind: 'Pod', metadata: {} }, errors: ['apiVersion, kind: Unsupported value: "v1/Pod"'] },
    { name: 'rejects an object without apiVersion', obj: { kind: 'IstioOperator' }, errors: ['apiVersion, kind: Required value'] },
    { name: 'rejects a value that is not an object', obj: 'IstioOperator', errors: ['Invalid value: "string": must be an object'] },
  ];

  for (const { name, obj, errors } of invalidCases) {
    it(name, () => {
      const result = validate(obj);
      expect(result.valid, JSON.stringify(result)).to.equal(false);
      const got = result.valid ? [] : result.errors;
      for (const want of errors) {
        expect(got.some((e) => e.startsWith(want)), `no error starts with ${JSON.stringify(want)} in ${JSON.stringify(got)}`).to.equal(true);
      }
    });
  }

  it('words errors exactly as kube-apiserver v1.36 does for the same document', () => {
    // Messages captured from `kubectl create` against kube-apiserver v1.36.3 with crds/ installed.
    const result = validate(iop({ profile: 42 }));
    expect(result).to.deep.equal({
      valid: false,
      errors: [
        'spec.profile: Invalid value: "integer": spec.profile in body must be of type string: "integer"',
        'spec.profile: Unsupported value: 42: supported values: "default", "demo", "minimal", "empty", "remote", "external", "preview", "openshift"',
      ],
    });
    const gateway = validate(iop({ revision: 'Bad_Rev', components: { ingressGateways: [{ k8s: { nodeSelector: { 'kubernetes.io/os': 3 } } }] } }));
    expect(gateway.valid ? [] : gateway.errors).to.deep.equal([
      `spec.revision: Invalid value: "Bad_Rev": spec.revision in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'`,
      'spec.components.ingressGateways[0].k8s.nodeSelector.kubernetes.io/os: Invalid value: "integer": ' +
        'spec.components.ingressGateways[0].k8s.nodeSelector.kubernetes.io/os in body must be of type string: "integer"',
    ]);
  });

  it('reports every problem of an object, not only the first', () => {
    const result = validate(iop({ profile: 'blue', revision: 'Bad_Rev', values: { cni: { repair: 'yes' } } }));
    expect(result.valid).to.equal(false);
    expect(result.valid ? [] : result.errors).to.have.length(3);
  });
});

describe('fieldPath', () => {
  const cases: Array<{ name: string; pointer: string; data: unknown; want: string }> = [
    { name: 'joins object keys with dots', pointer: '/spec/values/cni', data: {}, want: 'spec.values.cni' },
    { name: 'puts array indices in brackets', pointer: '/spec/ports/0/port', data: { spec: { ports: [{ port: 1 }] } }, want: 'spec.ports[0].port' },
    { name: 'joins map keys with dots too, as the apiserver does', pointer: '/a/kubernetes.io~1os', data: {}, want: 'a.kubernetes.io/os' },
    { name: 'does not mistake a numeric map key for an index', pointer: '/a/0', data: { a: { 0: 'x' } }, want: 'a.0' },
    { name: 'is empty for the root', pointer: '', data: {}, want: '' },
  ];
  for (const { name, pointer, data, want } of cases) {
    it(name, () => {
      expect(fieldPath(pointer, data)).to.equal(want);
    });
  }
});

describe('cni repair', () => {
  it('accepts absent, boolean and object values', () => {
    for (const value of [undefined, true, false, { enabled: true, tag: 1 }]) expect(checkCniRepair(value, 'r')).to.deep.equal([]);
  });

  it('rejects arrays, numbers and null', () => {
    for (const value of [[true], 1, null]) expect(checkCniRepair(value, 'r')).to.have.length(1);
  });

  const normalized: Array<{ name: string; value: unknown; want: unknown }> = [
    { name: 'turns true into enabled: true', value: true, want: { enabled: true } },
    { name: 'turns false into enabled: false', value: false, want: { enabled: false } },
    { name: 'keeps an object as it is', value: { enabled: true, deletePods: true }, want: { enabled: true, deletePods: true } },
    { name: 'leaves an absent value absent', value: undefined, want: undefined },
  ];
  for (const { name, value, want } of normalized) {
    it(`normalizes: ${name}`, () => {
      expect(normalizeCniRepair(value)).to.deep.equal(want);
    });
  }
});
