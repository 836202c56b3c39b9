import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  COMPONENT_LABEL,
  CONFIG_CHECKSUM_ANNOTATION,
  InvalidSpecError,
  KIND_ORDER,
  MIZZEN_VERSION,
  RENDERED_KINDS,
  compareObjects,
  componentOf,
  ownerLabels,
  ownerSelector,
  render,
  setPath,
  toJson,
  toYaml,
  type IstioOperator,
  type KubernetesObject,
} from '../../src/render/index.js';
import { at, container, find, iopWith, loadIop, mustFind } from './helpers.js';

const seed = (): IstioOperator => loadIop('seed');

/** An IstioOperator with spec values set at paths (setPath syntax, relative to spec). */
function withSet(iop: IstioOperator, ...sets: [string, unknown][]): IstioOperator {
  let spec = iop.spec ?? {};
  for (const [path, value] of sets) spec = setPath(spec, path, value);
  return { ...iop, spec };
}

const seedWith = (...sets: [string, unknown][]): IstioOperator => withSet(seed(), ...sets);

interface InjectorValues {
  istio_cni: { enabled: boolean };
  global: { hub: string; tag: string };
  revision: string;
}

function injectorValues(objects: readonly KubernetesObject[], name = 'istio-sidecar-injector'): InjectorValues {
  const cm = mustFind(objects, 'ConfigMap', name);
  return JSON.parse(at(cm, 'data.values') as string) as InjectorValues;
}

interface Volume {
  name: string;
  hostPath?: { path: string };
}

function hostPathOf(ds: KubernetesObject, volume: string): unknown {
  const volumes = at(ds, 'spec.template.spec.volumes') as Volume[];
  return volumes.find((v) => v.name === volume)?.hostPath?.path;
}

interface Webhook {
  name: string;
  clientConfig: unknown;
  namespaceSelector: unknown;
  objectSelector: unknown;
  failurePolicy: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  rules: unknown[];
}

const webhooksOf = (obj: KubernetesObject): Webhook[] => obj.webhooks as Webhook[];

function identities(objects: readonly KubernetesObject[]): string[] {
  return objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
}

/** A deep copy with every object's keys in reverse order (arrays keep their order). */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).reverse().map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]));
}

function matchesSelector(labels: Record<string, string> | undefined, selector: string): boolean {
  return selector.split(',').every((term) => {
    const [k = '', v] = term.split('=');
    return labels?.[k] === v;
  });
}

describe('render', () => {
  describe('the seed IstioOperator', () => {
    const result = render(seed());
    const ds = mustFind(result.objects, 'DaemonSet', 'istio-cni-node', 'kube-system');

    it('renders the DaemonSet istio-cni-node in kube-system with /home/kubernetes/bin as the CNI bin host path', () => {
      expect(hostPathOf(ds, 'cni-bin-dir')).to.equal('/home/kubernetes/bin');
      expect(hostPathOf(ds, 'cni-net-dir')).to.equal('/etc/cni/net.d');
      expect(hostPathOf(ds, 'cni-netns-dir')).to.equal('/var/run/netns');
      expect(hostPathOf(ds, 'mizzen-run')).to.equal('/var/run/mizzen');
    });

    it('runs mizzen agent privileged on the host network of every node, as a node-critical pod', () => {
      const c = container(ds, 'install-cni');
      expect(c.image).to.equal(`ghcr.io/mizzen/mizzen:${MIZZEN_VERSION}`);
      expect(c.command).to.deep.equal(['mizzen', 'agent']);
      expect(at(c, 'securityContext.privileged')).to.equal(true);
      expect(at(ds, 'spec.template.spec.hostNetwork')).to.equal(true);
      expect(at(ds, 'spec.template.spec.priorityClassName')).to.equal('system-node-critical');
      const tolerations = at(ds, 'spec.template.spec.tolerations') as Record<string, string>[];
      expect(tolerations.filter((t) => t.operator === 'Exists' && t.key === undefined).map((t) => t.effect)).to.have.members(['NoSchedule', 'NoExecute']);
    });

    it('turns repair on in the CNI ConfigMap, with Istio 1.11 defaults for the rest', () => {
      const cm = mustFind(result.objects, 'ConfigMap', 'istio-cni-config', 'kube-system');
      expect(cm.data).to.include({
        cniBinDir: '/home/kubernetes/bin',
        cniConfDir: '/etc/cni/net.d',
        cniConfFileName: '',
        excludeNamespaces: 'istio-system,kube-system',
        chained: 'true',
        logLevel: 'info',
        'repair.enabled': 'true',
        'repair.deletePods': 'true',
        'repair.labelPods': 'true',
      });
    });

    it('tells the injector that the CNI plugin is enabled', () => {
      const values = injectorValues(result.objects);
      expect(values.istio_cni.enabled).to.equal(true);
      expect(values.global.hub).to.equal('docker.io/istio');
      expect(values.global.tag).to.equal('1.11.0');
      expect(values.revision).to.equal('');
    });

    it('renders istiod with its Service, ConfigMaps and default-revision webhook', () => {
      const deployment = mustFind(result.objects, 'Deployment', 'istiod', 'istio-system');
      const discovery = container(deployment, 'discovery');
      expect(discovery.image).to.equal('docker.io/istio/pilot:1.11.0');
      expect(discovery.env).to.deep.include({ name: 'REVISION', value: 'default' });
      expect(at(discovery, 'readinessProbe.httpGet')).to.deep.equal({ path: '/ready', port: 8080 });
      expect((discovery.ports as { containerPort: number }[]).map((p) => p.containerPort)).to.have.members([8080, 15010, 15012, 15014, 15017]);
      mustFind(result.objects, 'Service', 'istiod', 'istio-system');
      mustFind(result.objects, 'ConfigMap', 'istio', 'istio-system');
      const webhook = mustFind(result.objects, 'MutatingWebhookConfiguration', 'istio-sidecar-injector');
      const names = webhooksOf(webhook).map((w) => w.name);
      expect(names).to.deep.equal([
        'rev.namespace.sidecar-injector.istio.io',
        'rev.object.sidecar-injector.istio.io',
        'namespace.sidecar-injector.istio.io',
        'object.sidecar-injector.istio.io',
      ]);
    });

    it('reports base, pilot and cni enabled and no gateways, for the default revision', () => {
      expect(result.revision).to.equal('default');
      expect(result.components).to.deep.equal({
        Base: { enabled: true },
        Pilot: { enabled: true },
        Cni: { enabled: true },
        IngressGateways: { enabled: false },
        EgressGateways: { enabled: false },
        IstiodRemote: { enabled: false },
      });
    });

    it('labels every object with its owner, component, revision and manager', () => {
      for (const obj of result.objects) {
        expect(obj.metadata.labels, `${obj.kind}/${obj.metadata.name}`).to.include(ownerLabels(seed()));
        expect(componentOf(obj), `${obj.kind}/${obj.metadata.name}`).to.be.oneOf(['Base', 'Pilot', 'Cni']);
        expect(obj.metadata.labels?.[COMPONENT_LABEL]).to.equal(componentOf(obj));
      }
      expect(componentOf(ds)).to.equal('Cni');
    });

    it('selects every object it renders with ownerSelector', () => {
      const selector = ownerSelector(seed());
      expect(selector).to.equal(
        'install.operator.istio.io/owning-resource=example-istiocontrolplane,install.operator.istio.io/owning-resource-namespace=istio-system,app.kubernetes.io/managed-by=mizzen',
      );
      for (const obj of result.objects) expect(matchesSelector(obj.metadata.labels, selector), `${obj.kind}/${obj.metadata.name}`).to.equal(true);
    });

    it('emits only kinds listed in RENDERED_KINDS, sorted by KIND_ORDER, namespace and name', () => {
      const kinds = new Set(RENDERED_KINDS.map((k) => `${k.apiVersion}/${k.kind}`));
      for (const obj of result.objects) expect(kinds.has(`${obj.apiVersion}/${obj.kind}`), obj.kind).to.equal(true);
      for (const k of RENDERED_KINDS) expect(KIND_ORDER).to.include(k.kind);
      expect([...result.objects].sort(compareObjects)).to.deep.equal(result.objects);
      expect(result.objects[0]?.kind).to.equal('ServiceAccount');
      expect(result.objects.at(-1)?.kind).to.equal('MutatingWebhookConfiguration');
    });
  });

  describe('the CNI component', () => {
    it('removes the DaemonSet, its ConfigMap and its RBAC when cni is disabled', () => {
      const result = render(seedWith(['components.cni.enabled', false]));
      for (const [kind, name] of [
        ['DaemonSet', 'istio-cni-node'],
        ['ConfigMap', 'istio-cni-config'],
        ['ServiceAccount', 'istio-cni'],
        ['ClusterRole', 'istio-cni'],
        ['ClusterRoleBinding', 'istio-cni'],
      ] as const) {
        expect(find(result.objects, kind, name), `${kind}/${name}`).to.equal(undefined);
      }
      expect(result.objects.filter((o) => componentOf(o) === 'Cni')).to.deep.equal([]);
      expect(result.components.Cni.enabled).to.equal(false);
      expect(injectorValues(result.objects).istio_cni.enabled).to.equal(false);
    });

    it('changes both the host path and the pod-template checksum when cniBinDir changes', () => {
      const before = mustFind(render(seed()).objects, 'DaemonSet', 'istio-cni-node');
      const after = mustFind(render(seedWith(['values.cni.cniBinDir', '/opt/cni/bin'])).objects, 'DaemonSet', 'istio-cni-node');
      const checksum = (ds: KubernetesObject): unknown => (at(ds, 'spec.template.metadata.annotations') as Record<string, string>)[CONFIG_CHECKSUM_ANNOTATION];
      expect(hostPathOf(after, 'cni-bin-dir')).to.equal('/opt/cni/bin');
      expect(checksum(before)).to.match(/^sha256:[0-9a-f]{64}$/);
      expect(checksum(after)).to.match(/^sha256:[0-9a-f]{64}$/);
      expect(checksum(after)).to.not.equal(checksum(before));
      expect(checksum(mustFind(render(seed()).objects, 'DaemonSet', 'istio-cni-node'))).to.equal(checksum(before));
    });

    it('treats repair: true and repair: {enabled: true} alike', () => {
      const asObject = render(seedWith(['values.cni.repair', { enabled: true }]));
      expect(toYaml(asObject.objects)).to.equal(toYaml(render(seed()).objects));
    });

    it('grants delete and patch on pods only when repair deletes or labels them', () => {
      const podVerbs = (iop: IstioOperator): unknown => {
        const role = mustFind(render(iop).objects, 'ClusterRole', 'istio-cni');
        return (role.rules as { resources: string[]; verbs: string[] }[]).find((r) => r.resources.includes('pods'))?.verbs;
      };
      expect(podVerbs(seed())).to.deep.equal(['get', 'list', 'watch', 'delete', 'patch']);
      expect(podVerbs(seedWith(['values.cni.repair', { deletePods: false }]))).to.deep.equal(['get', 'list', 'watch', 'patch']);
      expect(podVerbs(seedWith(['values.cni.repair', { labelPods: false, deletePods: false }]))).to.deep.equal(['get', 'list', 'watch']);
      expect(podVerbs(seedWith(['values.cni.repair', false]))).to.deep.equal(['get', 'list', 'watch']);
    });

    it('puts the agent in the control-plane namespace when components.cni.namespace is unset', () => {
      const result = render(seedWith(['components.cni.namespace', undefined]));
      mustFind(result.objects, 'DaemonSet', 'istio-cni-node', 'istio-system');
    });

    it('takes the agent image from values.cni.hub, image and tag, or a full reference in values.cni.image', () => {
      const image = (...sets: [string, unknown][]): unknown => container(mustFind(render(seedWith(...sets)).objects, 'DaemonSet', 'istio-cni-node'), 'install-cni').image;
      expect(image(['values.cni.hub', 'registry.local/m'], ['values.cni.tag', 'dev'])).to.equal('registry.local/m/mizzen:dev');
      expect(image(['values.cni.image', 'registry.local/agent@sha256:abc'])).to.equal('registry.local/agent@sha256:abc');
      expect(image(['hub', 'registry.local/istio'])).to.equal(`ghcr.io/mizzen/mizzen:${MIZZEN_VERSION}`);
    });
  });

  describe('revisions', () => {
    const a = render(loadIop('revision-1-7-6'));
    const b = render(loadIop('revision-1-8-3'));

    it('lets revisions 1-7-6 and 1-8-3 coexist: no object of one has the identity of an object of the other', () => {
      const mine = new Set(identities(a.objects));
      expect(identities(b.objects).filter((id) => mine.has(id))).to.deep.equal([]);
      expect(a.revision).to.equal('1-7-6');
      expect(b.revision).to.equal('1-8-3');
    });

    it('suffixes every object name with the revision and labels it istio.io/rev', () => {
      for (const obj of b.objects) {
        expect(obj.metadata.name, `${obj.kind}`).to.match(/-1-8-3($|-istio-system$)/);
        expect(obj.metadata.labels?.['istio.io/rev']).to.equal('1-8-3');
      }
      mustFind(b.objects, 'Deployment', 'istiod-1-8-3');
      mustFind(b.objects, 'Deployment', 'istio-ingressgateway-1-8-3');
      mustFind(b.objects, 'ConfigMap', 'istio-1-8-3');
      mustFind(b.objects, 'ConfigMap', 'istio-sidecar-injector-1-8-3');
      expect(container(mustFind(b.objects, 'Deployment', 'istiod-1-8-3'), 'discovery').image).to.equal('docker.io/istio/pilot:1.8.3');
    });

    it('selects only the revision in its injection webhooks and calls the revision istiod', () => {
      const webhook = mustFind(b.objects, 'MutatingWebhookConfiguration', 'istio-sidecar-injector-1-8-3');
      const hooks = webhooksOf(webhook);
      expect(hooks.map((h) => h.name)).to.deep.equal(['rev.namespace.sidecar-injector.istio.io', 'rev.object.sidecar-injector.istio.io']);
      expect(hooks[0]?.namespaceSelector).to.deep.equal({
        matchExpressions: [
          { key: 'istio.io/rev', operator: 'In', values: ['1-8-3'] },
          { key: 'istio-injection', operator: 'DoesNotExist' },
        ],
      });
      expect(hooks[0]?.objectSelector).to.deep.equal({ matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] });
      expect(hooks[1]?.namespaceSelector).to.deep.equal({
        matchExpressions: [
          { key: 'istio.io/rev', operator: 'DoesNotExist' },
          { key: 'istio-injection', operator: 'DoesNotExist' },
        ],
      });
      expect(hooks[1]?.objectSelector).to.deep.equal({
        matchExpressions: [
          { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] },
          { key: 'istio.io/rev', operator: 'In', values: ['1-8-3'] },
        ],
      });
      for (const h of hooks) {
        expect(h.clientConfig).to.deep.equal({ service: { name: 'istiod-1-8-3', namespace: 'istio-system', path: '/inject', port: 443 } });
        expect(h).to.include({ failurePolicy: 'Fail', sideEffects: 'None' });
        expect(h.admissionReviewVersions).to.deep.equal(['v1beta1', 'v1']);
        expect(h.rules).to.deep.equal([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }]);
      }
      expect(injectorValues(b.objects, 'istio-sidecar-injector-1-8-3').revision).to.equal('1-8-3');
    });

    it('shares only the CNI agent, a cluster singleton, when both revisions enable cni', () => {
      const withCni = (name: string): IstioOperator => withSet(loadIop(name), ['components.cni', { enabled: true, namespace: 'kube-system' }]);
      const ids = new Set(identities(render(withCni('revision-1-7-6')).objects));
      const shared = identities(render(withCni('revision-1-8-3')).objects).filter((id) => ids.has(id));
      expect(shared).to.deep.equal([
        'v1 ServiceAccount kube-system/istio-cni',
        'rbac.authorization.k8s.io/v1 ClusterRole /istio-cni',
        'rbac.authorization.k8s.io/v1 ClusterRoleBinding /istio-cni',
        'v1 ConfigMap kube-system/istio-cni-config',
        'apps/v1 DaemonSet kube-system/istio-cni-node',
      ]);
    });

    it('treats revision "default" and an empty revision as the default revision', () => {
      const expected = toYaml(render(iopWith({ profile: 'minimal' })).objects);
      expect(toYaml(render(iopWith({ profile: 'minimal', revision: 'default' })).objects)).to.equal(expected);
      expect(toYaml(render(iopWith({ profile: 'minimal', revision: '' })).objects)).to.equal(expected);
    });
  });

  describe('determinism', () => {
    it('renders the same bytes twice', () => {
      for (const name of ['seed', 'k8s-settings', 'overlays', 'profile-demo']) {
        expect(toYaml(render(loadIop(name)).objects), name).to.equal(toYaml(render(loadIop(name)).objects));
        expect(toJson(render(loadIop(name)).objects), name).to.equal(toJson(render(loadIop(name)).objects));
      }
    });

    it('renders the same bytes when the input keys come in another order', () => {
      for (const name of ['seed', 'k8s-settings', 'overlays', 'external-control-plane']) {
        const shuffled = reverseKeys(loadIop(name)) as IstioOperator;
        expect(JSON.stringify(shuffled)).to.not.equal(JSON.stringify(loadIop(name)));
        expect(toYaml(render(shuffled).objects), name).to.equal(toYaml(render(loadIop(name)).objects));
      }
    });

    it('does not modify its input', () => {
      const iop = loadIop('k8s-settings');
      const copy = structuredClone(iop);
      render(iop);
      expect(iop).to.deep.equal(copy);
    });

    it('writes JSON as one array with sorted keys, two-space indent and a trailing newline', () => {
      const objects = render(seed()).objects;
      const json = toJson(objects);
      expect(json.startsWith('[\n  {\n    "apiVersion": "v1",\n    "kind": "ServiceAccount",\n    "metadata": {')).to.equal(true);
      expect(json.endsWith('}\n]\n')).to.equal(true);
      expect(JSON.parse(json)).to.deep.equal(objects);
      expect(toJson([])).to.equal('[]\n');
    });

    it('writes YAML documents separated by ---, and nothing for no objects', () => {
      const yaml = toYaml(render(seed()).objects);
      expect(yaml.split(/^---$/m)).to.have.length(render(seed()).objects.length);
      expect(yaml).to.not.match(/&a\d|\*a\d/);
      expect(toYaml([])).to.equal('');
    });
  });

  describe('profiles and merging', () => {
    it('merges a user gateway with the profile gateway of the same name, and appends new names', () => {
      const result = render(
        iopWith({
          profile: 'demo',
          components: {
            egressGateways: [{ name: 'istio-egressgateway', enabled: false }],
            ingressGateways: [{ name: 'internal-gateway', enabled: true, namespace: 'gateways', label: { istio: 'internal' } }],
          },
        }),
      );
      expect(find(result.objects, 'Deployment', 'istio-egressgateway')).to.equal(undefined);
      expect(result.components.EgressGateways.enabled).to.equal(false);
      mustFind(result.objects, 'Deployment', 'istio-ingressgateway', 'istio-system');
      const internal = mustFind(result.objects, 'Service', 'internal-gateway', 'gateways');
      expect(at(internal, 'spec.selector')).to.deep.equal({
        app: 'istio-ingressgateway',
        istio: 'internal',
        'istio.io/rev': 'default',
        'service.istio.io/canonical-name': 'internal-gateway',
      });
    });

    it('replaces profile lists with user lists instead of concatenating them', () => {
      const result = render(seedWith(['values.cni.excludeNamespaces', ['monitoring']]));
      expect(mustFind(result.objects, 'ConfigMap', 'istio-cni-config').data).to.include({ excludeNamespaces: 'monitoring' });
    });

    it('renders the default profile when spec.profile is absent', () => {
      expect(toYaml(render(iopWith({})).objects)).to.equal(toYaml(render(iopWith({ profile: 'default' })).objects));
    });

    it('gives egress gateways a ClusterIP Service on 80 and 443 and ingress gateways a LoadBalancer with 15021', () => {
      const objects = render(iopWith({ profile: 'demo' })).objects;
      const egress = mustFind(objects, 'Service', 'istio-egressgateway');
      expect(at(egress, 'spec.type')).to.equal('ClusterIP');
      expect((at(egress, 'spec.ports') as { port: number }[]).map((p) => p.port)).to.deep.equal([80, 443]);
      const ingress = mustFind(render(iopWith({})).objects, 'Service', 'istio-ingressgateway');
      expect(at(ingress, 'spec.type')).to.equal('LoadBalancer');
      expect((at(ingress, 'spec.ports') as { port: number }[]).map((p) => p.port)).to.deep.equal([15021, 80, 443]);
      expect(container(mustFind(objects, 'Deployment', 'istio-egressgateway'), 'istio-proxy').image).to.equal('docker.io/istio/proxyv2:1.11.0');
    });

    it('lets values.global.hub and tag choose the images when spec.hub and spec.tag are unset', () => {
      const objects = render(iopWith({ profile: 'minimal', values: { global: { hub: 'mirror.local/istio', tag: '1.11.8' } } })).objects;
      expect(container(mustFind(objects, 'Deployment', 'istiod'), 'discovery').image).to.equal('mirror.local/istio/pilot:1.11.8');
    });
  });

  describe('k8s settings', () => {
    const objects = render(loadIop('k8s-settings')).objects;
    const istiod = mustFind(objects, 'Deployment', 'istiod');

    it('overrides env vars by name and appends new ones', () => {
      const env = container(istiod, 'discovery').env as { name: string; value?: string }[];
      expect(env.filter((e) => e.name === 'PILOT_TRACE_SAMPLING')).to.deep.equal([{ name: 'PILOT_TRACE_SAMPLING', value: '5' }]);
      expect(env.at(-1)).to.deep.equal({ name: 'PILOT_ENABLE_STATUS', value: 'true' });
    });

    it('applies replicas, resources, scheduling and pod annotations', () => {
      expect(at(istiod, 'spec.replicas')).to.equal(3);
      expect(container(istiod, 'discovery').resources).to.deep.equal({ limits: { memory: '1Gi' }, requests: { cpu: '250m', memory: '512Mi' } });
      expect(at(istiod, 'spec.template.spec.nodeSelector')).to.deep.equal({ 'node-role.kubernetes.io/control-plane': '' });
      expect(at(istiod, 'spec.template.spec.tolerations')).to.have.length(1);
      expect(at(istiod, 'spec.template.spec.affinity.podAntiAffinity')).to.not.equal(undefined);
      expect(at(istiod, 'spec.template.metadata.annotations')).to.include({ 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', 'sidecar.istio.io/inject': 'false' });
    });

    it('merges k8s.service into the Service spec and replaces its ports', () => {
      expect(at(mustFind(objects, 'Service', 'istiod'), 'spec.type')).to.equal('ClusterIP');
      const gw = mustFind(objects, 'Service', 'istio-ingressgateway');
      expect(at(gw, 'spec.type')).to.equal('NodePort');
      expect(at(gw, 'spec.ports')).to.deep.equal([{ name: 'http2', nodePort: 30080, port: 80, targetPort: 8080 }]);
      expect(gw.metadata.annotations).to.deep.equal({ 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' });
      expect(at(mustFind(objects, 'Deployment', 'istio-ingressgateway'), 'spec.replicas')).to.equal(2);
    });
  });

  describe('external control plane', () => {
    const external = (values: Record<string, unknown>): KubernetesObject[] => render(iopWith({ profile: 'external', values })).objects;

    it('renders no istiod and calls the injection URL', () => {
      const objects = render(loadIop('external-control-plane')).objects;
      expect(objects.filter((o) => o.kind === 'Deployment')).to.deep.equal([]);
      const webhook = mustFind(objects, 'MutatingWebhookConfiguration', 'istio-sidecar-injector-external-istiod');
      for (const h of webhooksOf(webhook)) expect(h.clientConfig).to.deep.equal({ url: 'https://192.0.2.10:15017/inject/cluster/remote1/net/network1' });
      const endpoints = mustFind(objects, 'Endpoints', 'istiod-remote', 'external-istiod');
      expect(at(endpoints, 'subsets.0.addresses')).to.deep.equal([{ ip: '192.0.2.10' }]);
      expect(at(mustFind(objects, 'Service', 'istiod-remote'), 'spec.selector')).to.equal(undefined);
    });

    it('points an ExternalName Service at a remotePilotAddress host name, without Endpoints', () => {
      const objects = external({ global: { remotePilotAddress: 'istiod.mesh.example.com' } });
      expect(at(mustFind(objects, 'Service', 'istiod-remote'), 'spec')).to.include({ type: 'ExternalName', externalName: 'istiod.mesh.example.com' });
      expect(find(objects, 'Endpoints', 'istiod-remote')).to.equal(undefined);
    });

    it('calls the istiod-remote Service when only remotePilotAddress is given', () => {
      const objects = external({ global: { remotePilotAddress: '192.0.2.10' }, istiodRemote: { injectionPath: '/inject/cluster/c1/net/n1' } });
      const webhook = mustFind(objects, 'MutatingWebhookConfiguration', 'istio-sidecar-injector');
      expect(webhooksOf(webhook)[0]?.clientConfig).to.deep.equal({
        service: { name: 'istiod-remote', namespace: 'istio-system', path: '/inject/cluster/c1/net/n1', port: 443 },
      });
    });

    it('gives the external istiod a reader identity here that cannot read Secrets', () => {
      const objects = external({ istiodRemote: { injectionURL: 'https://cp.example.com/inject' } });
      mustFind(objects, 'ServiceAccount', 'istio-reader-service-account');
      const role = mustFind(objects, 'ClusterRole', 'istio-reader-istio-system');
      const rules = (role as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules;
      const core = rules.filter((r) => r.apiGroups.includes(''));
      expect(core.flatMap((r) => r.resources)).to.include.members(['pods', 'services', 'configmaps']).and.not.include('secrets');
      expect(rules.some((r) => r.apiGroups.includes('discovery.k8s.io') && r.resources.includes('endpointslices'))).to.equal(true);
      expect(find(objects, 'ServiceAccount', 'istiod')).to.equal(undefined);
    });

    it("renders istiod's identity for a --type config remote secret when global.configCluster is set", () => {
      const objects = external({ global: { configCluster: true }, istiodRemote: { injectionURL: 'https://cp.example.com/inject' } });
      mustFind(objects, 'ServiceAccount', 'istiod');
      mustFind(objects, 'ClusterRoleBinding', 'istiod-clusterrole-istio-system');
      mustFind(objects, 'RoleBinding', 'istiod');
    });

    it('renders the istiodRemote component from components.istiodRemote.enabled without the profile', () => {
      const result = render(iopWith({ components: { pilot: { enabled: false }, istiodRemote: { enabled: true } }, values: { istiodRemote: { injectionURL: 'https://cp.example.com/inject' } } }));
      expect(result.components.IstiodRemote.enabled).to.equal(true);
      expect(result.components.Pilot.enabled).to.equal(false);
      mustFind(result.objects, 'MutatingWebhookConfiguration', 'istio-sidecar-injector');
      mustFind(result.objects, 'ConfigMap', 'istio-sidecar-injector');
    });
  });

  describe('invalid specs', () => {
    const cases: { name: string; spec: Record<string, unknown>; field: string; metadata?: Record<string, string> }[] = [
      { name: 'an unknown profile', spec: { profile: 'tiny' }, field: 'spec.profile' },
      { name: 'a revision that is not a DNS-1123 label', spec: { revision: '1.8.3' }, field: 'spec.revision' },
      { name: 'a revision too long for the Services it names', spec: { profile: 'minimal', revision: 'r'.repeat(60) }, field: 'spec.revision' },
      { name: 'a relative cniBinDir', spec: { values: { cni: { cniBinDir: 'opt/cni/bin' } } }, field: 'values.cni.cniBinDir' },
      { name: 'a cniConfDir that climbs with ..', spec: { values: { cni: { cniConfDir: '/etc/../tmp' } } }, field: 'values.cni.cniConfDir' },
      { name: 'a cniConfFileName that is a path', spec: { values: { cni: { cniConfFileName: 'a/b.conf' } } }, field: 'values.cni.cniConfFileName' },
      { name: 'a repair value that is neither boolean nor object', spec: { values: { cni: { repair: 'yes' } } }, field: 'values.cni.repair' },
      { name: 'a repair object with a wrongly typed field', spec: { values: { cni: { repair: { deletePods: 'no' } } } }, field: 'values.cni.repair' },
      { name: 'an unknown CNI log level', spec: { values: { cni: { logLevel: 'loud' } } }, field: 'values.cni.logLevel' },
      { name: 'a plain http injection URL', spec: { profile: 'external', values: { istiodRemote: { injectionURL: 'http://cp.example.com/inject' } } }, field: 'values.istiodRemote.injectionURL' },
      { name: 'the external profile without an injection URL or pilot address', spec: { profile: 'external' }, field: 'values.istiodRemote.injectionURL' },
      { name: 'istiodRemote together with a local istiod', spec: { components: { istiodRemote: { enabled: true } } }, field: 'components.istiodRemote.enabled' },
      { name: 'a remotePilotAddress that is no address', spec: { profile: 'external', values: { global: { remotePilotAddress: 'not an address' } } }, field: 'values.global.remotePilotAddress' },
      { name: 'an invalid control-plane namespace', spec: { namespace: 'Istio_System' }, field: 'spec.namespace' },
      { name: 'spec.namespace and values.global.istioNamespace that disagree', spec: { namespace: 'a', values: { global: { istioNamespace: 'b' } } }, field: 'values.global.istioNamespace' },
      { name: 'a gateway without a name', spec: { components: { ingressGateways: [{ enabled: true }] } }, field: 'components.ingressGateways[1].name' },
      { name: 'a gateway whose objects collide with istiod', spec: { components: { ingressGateways: [{ name: 'istiod', enabled: true }] } }, field: 'components.ingressGateways[1]' },
      { name: 'two enabled gateways with one name', spec: { components: { egressGateways: [{ name: 'istio-ingressgateway', enabled: true }] } }, field: 'components.egressGateways[1].name' },
      { name: 'replicaCount on the CNI DaemonSet', spec: { components: { cni: { enabled: true, k8s: { replicaCount: 2 } } } }, field: 'components.cni.k8s.replicaCount' },
      { name: 'an enabled ztunnel', spec: { components: { ztunnel: { enabled: true } } }, field: 'components.ztunnel.enabled' },
      {
        name: 'an overlay path with an unbalanced bracket',
        spec: { components: { pilot: { k8s: { overlays: [{ kind: 'Deployment', name: 'istiod', patches: [{ path: 'spec.template.spec.containers.[name:discovery.args', value: 'x' }] }] } } } },
        field: 'components.pilot.k8s.overlays[0].patches[0].path',
      },
      {
        name: 'an overlay selector that matches no list entry',
        spec: { components: { pilot: { k8s: { overlays: [{ kind: 'Deployment', name: 'istiod', patches: [{ path: 'spec.template.spec.containers.[name:nope].image', value: 'x' }] }] } } } },
        field: 'components.pilot.k8s.overlays[0].patches[0].path',
      },
      {
        name: 'an overlay index past the end of a list',
        spec: { components: { pilot: { k8s: { overlays: [{ kind: 'Deployment', name: 'istiod', patches: [{ path: 'spec.template.spec.containers[3].image', value: 'x' }] }] } } } },
        field: 'components.pilot.k8s.overlays[0].patches[0].path',
      },
      {
        name: 'an overlay that renames the object',
        spec: { components: { pilot: { k8s: { overlays: [{ kind: 'Service', name: 'istiod', patches: [{ path: 'metadata.name', value: 'other' }] }] } } } },
        field: 'components.pilot.k8s.overlays[0].patches[0].path',
      },
      {
        name: 'an overlay naming an object the component does not render',
        spec: { components: { ingressGateways: [{ name: 'istio-ingressgateway', enabled: true, k8s: { overlays: [{ kind: 'Deployment', name: 'istiod', patches: [] }] } }] } },
        field: 'components.ingressGateways[0].k8s.overlays[0].name',
      },
      { name: 'an owner name too long for a label value', spec: {}, field: 'metadata.name', metadata: { name: 'n'.repeat(64), namespace: 'istio-system' } },
    ];
    for (const c of cases) {
      it(`rejects ${c.name}, naming ${c.field}`, () => {
        const iop = { ...iopWith(c.spec), ...(c.metadata ? { metadata: c.metadata } : {}) };
        let error: unknown;
        try {
          render(iop);
        } catch (err) {
          error = err;
        }
        expect(error).to.be.instanceOf(InvalidSpecError);
        expect((error as InvalidSpecError).field).to.equal(c.field);
        expect((error as InvalidSpecError).message.startsWith(`${c.field}: `)).to.equal(true);
      });
    }
  });

  it('keeps MIZZEN_VERSION equal to the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(MIZZEN_VERSION).to.equal(pkg.version);
  });
});
