import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import YAML from 'yaml';
import { MIZZEN_HUB, MIZZEN_IMAGE, MIZZEN_VERSION } from '../../src/render/version.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (f: string): unknown => YAML.parse(fs.readFileSync(path.join(root, f), 'utf8'));

interface Values {
  image: { repository: string; tag: string; pullPolicy: string };
}
interface Kustomization {
  images?: { name: string; newName?: string; newTag?: string }[];
}
interface Deployment {
  spec: { template: { spec: { containers: { image: string; imagePullPolicy?: string }[] } } };
}

// scripts/image builds <chart image.repository>:<package.json version>; everything that names the image must agree.
describe('packaging: one image reference', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const values = read('charts/mizzen/values.yaml') as Values;
  const repository = values.image.repository;

  it("the chart's default is the image scripts/image builds, used when already on the node", () => {
    expect(repository).to.equal(`${MIZZEN_HUB}/${MIZZEN_IMAGE}`);
    expect(values.image.tag, 'an empty tag means appVersion').to.equal('');
    expect((read('charts/mizzen/Chart.yaml') as { appVersion: string }).appVersion).to.equal(pkg.version);
    expect(values.image.pullPolicy).to.equal('IfNotPresent');
  });

  it("the renderer's default agent image is the same reference", () => {
    expect(`${MIZZEN_HUB}/${MIZZEN_IMAGE}:${MIZZEN_VERSION}`).to.equal(`${repository}:${pkg.version}`);
  });

  it('config/manager takes the tag from its kustomize images entry', () => {
    const k = read('config/manager/kustomization.yaml') as Kustomization;
    expect(k.images).to.deep.equal([{ name: repository, newTag: pkg.version }]);
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(root, 'config/manager/manager.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string });
    const container = (docs.find((d) => d.kind === 'Deployment') as Deployment | undefined)?.spec.template.spec.containers[0];
    expect(container?.image).to.equal(repository);
    expect(container?.imagePullPolicy).to.equal('IfNotPresent');
  });
});
