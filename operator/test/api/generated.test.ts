import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { generate, outOfDate } from '../../../scripts/gen-types.js';
import { allGVKs, apiVersionOf, crdKeyOf, crdVersions, schemas, validate } from '../../src/api/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function yamlDocs(dir: string): Promise<Array<{ file: string; doc: Record<string, unknown> }>> {
  const files = (await readdir(path.join(root, dir))).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  const out: Array<{ file: string; doc: Record<string, unknown> }> = [];
  for (const file of files) {
    for (const d of parseAllDocuments(await readFile(path.join(root, dir, file), 'utf8'))) {
      out.push({ file, doc: d.toJS({ maxAliasCount: -1 }) as Record<string, unknown> });
    }
  }
  return out;
}

describe('generated API', () => {
  it('is up to date with crds/ (run `npx tsx scripts/gen-types.ts` if not)', async function () {
    this.timeout(60_000);
    const files = await generate(root);
    expect(await outOfDate(root, files)).to.deep.equal([]);
  });

  it('has a schema for every version of every CRD', () => {
    expect(Object.keys(schemas).sort()).to.deep.equal(crdVersions.map((c) => c.key).sort());
  });

  it('has one storage version per kind', () => {
    const storage = new Map<string, number>();
    for (const c of crdVersions) if (c.storage) storage.set(`${c.group}/${c.kind}`, (storage.get(`${c.group}/${c.kind}`) ?? 0) + 1);
    expect([...storage.values()].every((n) => n === 1)).to.equal(true);
    expect(storage.size).to.equal(new Set(crdVersions.map((c) => `${c.group}/${c.kind}`)).size);
  });

  for (const gvk of allGVKs) {
    it(`agrees with the CRD on ${gvk.kind} ${gvk.version}`, () => {
      const crd = crdVersions.find((c) => c.key === crdKeyOf(gvk));
      expect(crd, crdKeyOf(gvk)).to.not.equal(undefined);
      expect({ plural: crd?.plural, namespaced: crd?.namespaced, served: crd?.served }).to.deep.equal({
        plural: gvk.plural,
        namespaced: gvk.namespaced,
        served: true,
      });
    });
  }

  it('covers every CRD version with a GVK constant', () => {
    expect(allGVKs.map(crdKeyOf).sort()).to.deep.equal(crdVersions.map((c) => c.key).sort());
  });

  it('spells apiVersion as group/version', () => {
    expect(apiVersionOf({ group: 'install.istio.io', version: 'v1alpha1' })).to.equal('install.istio.io/v1alpha1');
  });
});

describe('samples', () => {
  it('keeps the seed IstioOperator byte for byte', async () => {
    const text = await readFile(path.join(root, 'config/samples/install_v1alpha1_istiooperator_seed.yaml'), 'utf8');
    expect(text).to.equal(
      [
        'apiVersion: install.istio.io/v1alpha1',
        'kind: IstioOperator',
        'metadata: {namespace: istio-system, name: example-istiocontrolplane}',
        'spec:',
        '  profile: minimal',
        '  components: {cni: {enabled: true, namespace: kube-system}}',
        '  values: {cni: {cniBinDir: /home/kubernetes/bin, repair: true}}',
        '',
      ].join('\n'),
    );
  });

  it('are all valid custom resources (or built-in objects)', async () => {
    const docs = await yamlDocs('config/samples');
    expect(docs.length).to.be.greaterThan(0);
    for (const { file, doc } of docs) {
      if (!String(doc.apiVersion).includes('.')) continue;
      expect(validate(doc), file).to.deep.equal({ valid: true });
    }
  });
});

describe('kustomizations', () => {
  // crds/ names its kustomization `Kustomization` so that `kubectl apply -f crds/` sees only the CRDs.
  for (const [dir, name] of [['crds', 'Kustomization'], ['config/samples', 'kustomization.yaml']] as const) {
    it(`list every YAML file in ${dir}`, async () => {
      const files = (await readdir(path.join(root, dir))).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
      const kustomization = await readFile(path.join(root, dir, name), 'utf8');
      for (const f of files) expect(kustomization, f).to.include(`- ${f}`);
    });
  }
});
