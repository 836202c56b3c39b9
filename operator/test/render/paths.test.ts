import { expect } from 'chai';
import { InvalidSpecError, applySet, parseSetValue, render, setPath, toYaml } from '../../src/render/index.js';
import { patchOperations, patchValue } from '../../src/render/overlays.js';
import { PathError, formatPath, parsePath } from '../../src/render/paths.js';
import { iopWith, mustFind } from './helpers.js';

describe('Istio paths', () => {
  describe('parsing', () => {
    const cases: { name: string; path: string; elements: unknown[] }[] = [
      { name: 'dotted keys', path: 'spec.replicas', elements: [{ type: 'key', key: 'spec' }, { type: 'key', key: 'replicas' }] },
      {
        name: 'a list selector as its own segment and an index after a key',
        path: 'spec.containers.[name:discovery].args[0]',
        elements: [
          { type: 'key', key: 'spec' },
          { type: 'key', key: 'containers' },
          { type: 'select', key: 'name', value: 'discovery' },
          { type: 'key', key: 'args' },
          { type: 'index', index: 0 },
        ],
      },
      { name: 'an append index', path: 'args[-1]', elements: [{ type: 'key', key: 'args' }, { type: 'index', index: -1 }] },
      { name: 'a selector value with dots', path: 'hosts.[name:a.b.c]', elements: [{ type: 'key', key: 'hosts' }, { type: 'select', key: 'name', value: 'a.b.c' }] },
      { name: 'a scalar selector', path: 'args.[:--foo]', elements: [{ type: 'key', key: 'args' }, { type: 'select', key: '', value: '--foo' }] },
      {
        name: 'a key with escaped dots',
        path: 'metadata.annotations.service\\.beta\\.kubernetes\\.io/aws',
        elements: [{ type: 'key', key: 'metadata' }, { type: 'key', key: 'annotations' }, { type: 'key', key: 'service.beta.kubernetes.io/aws' }],
      },
    ];
    for (const c of cases) {
      it(`parses ${c.name}`, () => {
        expect(parsePath(c.path)).to.deep.equal(c.elements);
      });
    }

    for (const bad of ['', 'a..b', 'a.[name:x', 'a.b]', 'a[x]', 'a[-2]', 'a[[1]]']) {
      it(`rejects ${JSON.stringify(bad)}`, () => {
        expect(() => parsePath(bad)).to.throw(PathError);
      });
    }

    it('formats a parsed path back', () => {
      expect(formatPath(parsePath('spec.containers.[name:x].args[0]'))).to.equal('spec.containers.[name:x].args[0]');
    });
  });

  describe('patching', () => {
    const doc = { spec: { containers: [{ name: 'a', args: ['x', 'y'], env: [{ name: 'E', value: '1' }] }], labels: { k: 'v' } } };

    it('replaces an existing value through a list selector', () => {
      expect(patchOperations(doc, 'spec.containers.[name:a].args[1]', 'z')).to.deep.equal([{ op: 'replace', path: '/spec/containers/0/args/1', value: 'z' }]);
    });

    it('appends with [-1] and with the index one past the end', () => {
      expect(patchValue(doc, 'spec.containers[0].args[-1]', 'w').spec.containers[0]?.args).to.deep.equal(['x', 'y', 'w']);
      expect(patchValue(doc, 'spec.containers[0].args[2]', 'w').spec.containers[0]?.args).to.deep.equal(['x', 'y', 'w']);
    });

    it('creates missing maps on the way to a new key', () => {
      expect(patchValue(doc, 'spec.template.metadata.annotations.a\\.b/c', 'd')).to.deep.include({ spec: { ...doc.spec, template: { metadata: { annotations: { 'a.b/c': 'd' } } } } });
    });

    it('removes a value when no value is given, and does nothing when it is already absent', () => {
      expect(patchValue(doc, 'spec.labels.k', undefined).spec.labels).to.deep.equal({});
      expect(patchOperations(doc, 'spec.missing.deeper', undefined)).to.deep.equal([]);
      expect(patchValue(doc, 'spec.containers.[name:a].env.[name:E]', undefined).spec.containers[0]?.env).to.deep.equal([]);
    });

    it('escapes JSON Pointer characters in keys', () => {
      expect(patchOperations({ m: {} }, 'm.a/b~c', 1)).to.deep.equal([{ op: 'add', path: '/m/a~1b~0c', value: 1 }]);
    });

    it('leaves the original document alone', () => {
      const copy = structuredClone(doc);
      patchValue(doc, 'spec.labels.k', 'changed');
      expect(doc).to.deep.equal(copy);
    });

    const errors: { name: string; path: string }[] = [
      { name: 'a selector that matches nothing', path: 'spec.containers.[name:nope].args' },
      { name: 'an index past the end', path: 'spec.containers[5].args' },
      { name: 'a key under a list', path: 'spec.containers.name' },
      { name: 'an index under a map', path: 'spec.labels[0]' },
      { name: 'a list step under a missing key', path: 'spec.missing[0]' },
    ];
    for (const e of errors) {
      it(`rejects ${e.name}`, () => {
        expect(() => patchOperations(doc, e.path, 'x')).to.throw(PathError);
      });
    }
  });
});

describe('--set', () => {
  it('parses values like Helm: booleans, null, integers, lists; versions stay strings', () => {
    expect(parseSetValue('true')).to.equal(true);
    expect(parseSetValue('false')).to.equal(false);
    expect(parseSetValue('null')).to.equal(null);
    expect(parseSetValue('42')).to.equal(42);
    expect(parseSetValue('-3')).to.equal(-3);
    expect(parseSetValue('1.11')).to.equal('1.11');
    expect(parseSetValue('007')).to.equal('007');
    expect(parseSetValue('/home/kubernetes/bin')).to.equal('/home/kubernetes/bin');
    expect(parseSetValue('{istio-system,kube-system}')).to.deep.equal(['istio-system', 'kube-system']);
    expect(parseSetValue('{}')).to.deep.equal([]);
  });

  it('sets nested values on a copy, creating maps and lists', () => {
    const spec = { values: { cni: { chained: true } } };
    const out = setPath(spec, 'values.cni.cniBinDir', '/x');
    expect(out).to.deep.equal({ values: { cni: { chained: true, cniBinDir: '/x' } } });
    expect(spec).to.deep.equal({ values: { cni: { chained: true } } });
    expect(setPath({}, 'components.ingressGateways[0].name', 'gw')).to.deep.equal({ components: { ingressGateways: [{ name: 'gw' }] } });
    expect(setPath({}, 'spec.profile', 'demo')).to.deep.equal({ profile: 'demo' });
  });

  it('disables the profile ingress gateway through a name selector', () => {
    const spec = applySet({}, 'components.ingressGateways.[name:istio-ingressgateway].enabled=false');
    expect(spec).to.deep.equal({ components: { ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }] } });
    const result = render(iopWith(spec));
    expect(result.components.IngressGateways.enabled).to.equal(false);
  });

  it('gives the same output as writing the spec by hand', () => {
    let spec = {};
    for (const s of ['profile=minimal', 'components.cni.enabled=true', 'components.cni.namespace=kube-system', 'values.cni.cniBinDir=/home/kubernetes/bin', 'values.cni.repair=true']) {
      spec = applySet(spec, s);
    }
    const byHand = iopWith({ profile: 'minimal', components: { cni: { enabled: true, namespace: 'kube-system' } }, values: { cni: { cniBinDir: '/home/kubernetes/bin', repair: true } } });
    expect(toYaml(render(iopWith(spec)).objects)).to.equal(toYaml(render(byHand).objects));
    mustFind(render(iopWith(spec)).objects, 'DaemonSet', 'istio-cni-node', 'kube-system');
  });

  for (const bad of ['novalue', '=x', 'a.[x=1', 'values.cni.cniBinDir[0]=x']) {
    it(`rejects ${JSON.stringify(bad)} with an InvalidSpecError`, () => {
      expect(() => applySet({ values: { cni: { cniBinDir: '/a' } } }, bad)).to.throw(InvalidSpecError);
    });
  }
});

describe('paths that would reach a prototype', () => {
  const paths = ['metadata.labels.__proto__.x', '__proto__.polluted', 'spec.constructor.prototype.polluted', 'a.[name:x].__proto__'];
  for (const p of paths) {
    it(`refuses ${p} as malformed, touching no prototype`, () => {
      expect(() => parsePath(p)).to.throw(PathError, /which is not a field/);
      expect(() => patchOperations({ metadata: { labels: {} } }, p, 'v')).to.throw(PathError);
      expect(() => applySet({}, `${p}=1`)).to.throw(InvalidSpecError);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(({} as Record<string, unknown>).x).to.equal(undefined);
    });
  }

  it('an overlay with such a path is an InvalidSpecError naming the patch (not a TypeError from the JSON patch library)', () => {
    const iop = iopWith({
      components: { pilot: { k8s: { overlays: [{ kind: 'Deployment', name: 'istiod', patches: [{ path: 'metadata.labels.__proto__.x', value: 'y' }] }] } } },
    });
    expect(() => render(iop)).to.throw(InvalidSpecError, /components\.pilot\.k8s\.overlays\[0\]\.patches\[0\]\.path.*__proto__/);
  });

  it('keeps constructor and prototype usable as ordinary keys elsewhere', () => {
    expect(parsePath('metadata.labels.constructor')).to.have.length(3);
    expect(parsePath('metadata.labels.prototype')).to.have.length(3);
    expect(patchValue({ metadata: { labels: {} } }, 'metadata.labels.prototype', 'v')).to.deep.equal({ metadata: { labels: { prototype: 'v' } } });
  });
});
