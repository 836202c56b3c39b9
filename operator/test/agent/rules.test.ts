import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { cniRules } from '../../src/agent/rules.js';
import { ANNOTATION } from '../../src/iptables/index.js';
import { POD_CASES, invalidAnnotationPod, podManifestYaml } from './podcases.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';
const run = (podText: string, more: Partial<Parameters<typeof cniRules>[0]> = {}) => cniRules({ podText, podSource: 'pod.yaml', ipv6: false, ...more });

async function golden(name: string, actual: string): Promise<void> {
  const file = path.join(here, 'testdata', 'cni-rules', `${name}.golden`);
  if (update) await writeFile(file, actual);
  expect(actual, `cni-rules/${name}.golden (refresh with UPDATE_GOLDEN=1)`).to.equal(await readFile(file, 'utf8'));
}

describe('mizzen cni rules', () => {
  for (const c of POD_CASES) {
    it(`${c.name} (${c.reason})`, async () => {
      const out = run(c.yaml, { ipv6: c.ipv6 ?? false });
      expect([out.exitCode, out.stderr]).to.deep.equal([0, '']);
      const [head = '', ...rest] = out.stdout.split('\n');
      expect(head).to.match(new RegExp(`^# pod \\S+/web-1: ${c.golden === undefined ? 'skip' : 'redirect'} \\(${c.reason}\\): .+`));
      if (c.golden === undefined) expect(rest.join('\n')).to.equal('');
      else await golden(c.golden, out.stdout);
    });
  }

  const invalid: Array<[keyof typeof ANNOTATION, string]> = [
    ['excludeInboundPorts', '80,http'],
    ['includeOutboundIPRanges', '10.0.0.0/33'],
    ['interceptionMode', 'NAT'],
    ['excludeInterfaces', 'eth/0'],
    ['proxyConfig', 'proxyMetadata: [1, 2]'],
  ];
  for (const [key, value] of invalid) {
    it(`exits 1 naming the annotation ${ANNOTATION[key]} when it is invalid`, () => {
      const out = run(invalidAnnotationPod(ANNOTATION[key], value));
      expect(out.exitCode).to.equal(1);
      expect(out.stdout).to.equal('');
      expect(out.stderr).to.match(new RegExp(`^Error: pod shop/web-1 has an invalid annotation ${ANNOTATION[key].replace(/\./g, '\\.')}: .+\\n$`));
    });
  }

  it('follows the settings: values.cni, values or an IstioOperator, and the ConfigMap form', () => {
    const shop = podManifestYaml({ namespace: 'shop' });
    for (const values of ['excludeNamespaces: [shop]', 'cni:\n  excludeNamespaces: [shop]', 'spec:\n  values:\n    cni:\n      excludeNamespaces: [shop]']) {
      expect(run(shop, { settings: { values } }).stdout).to.match(/^# pod shop\/web-1: skip \(excluded-namespace\)/);
    }
    expect(run(shop, { settings: { data: { excludeNamespaces: 'a,shop' } } }).stdout).to.match(/skip \(excluded-namespace\)/);
    // Without settings the agent's defaults exclude istio-system and kube-system only.
    expect(run(shop).stdout).to.match(/redirect \(sidecar\)/);
  });

  it('prints the native nftables transaction when values.global.nativeNftables is on, from the same config', async () => {
    const c = POD_CASES.find((p) => p.golden === 'proxy-uid-gid');
    if (c === undefined) throw new Error('no proxy-uid-gid case');
    for (const settings of [{ values: 'global:\n  nativeNftables: true\n' }, { values: 'spec:\n  values:\n    global: {nativeNftables: true}\n' }, { data: { nativeNftables: 'true' } }]) {
      const out = run(c.yaml, { settings });
      expect(out.exitCode).to.equal(0);
      await golden('proxy-uid-gid-nftables', out.stdout);
    }
  });

  it('puts a manifest without a namespace in "default", as kubectl does', () => {
    expect(run(podManifestYaml()).stdout).to.match(/^# pod default\/web-1: redirect/);
    expect(run(podManifestYaml(), { settings: { values: 'excludeNamespaces: [default]' } }).stdout).to.match(/skip \(excluded-namespace\)/);
  });

  it('takes the first Pod of a multi-document file and rejects files without one, in one line', () => {
    expect(run(`apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n${podManifestYaml({ namespace: 'a' })}`).stdout).to.match(/^# pod a\/web-1: redirect/);
    const bad: Array<[string, RegExp]> = [
      ['kind: Service\n', /^Error: pod\.yaml: no Pod in it/],
      ['a: [1\n', /^Error: pod\.yaml: not YAML/],
      ['', /^Error: pod\.yaml: no Pod in it/],
    ];
    for (const [text, re] of bad) {
      const out = run(text);
      expect([out.exitCode, out.stdout]).to.deep.equal([1, '']);
      expect(out.stderr).to.match(re).and.match(/\n$/);
      expect(out.stderr.split('\n')).to.have.length(2);
    }
    const badSettings = run(podManifestYaml(), { settings: { values: 'excludeNamespaces: 5' }, settingsSource: 's.yaml' });
    expect([badSettings.exitCode, badSettings.stderr]).to.deep.equal([1, badSettings.stderr]);
    expect(badSettings.stderr).to.match(/^Error: s\.yaml: .*excludeNamespaces/);
  });

  it('runs as `mizzen cni rules -f` with files, --ipv6 and a --settings directory; exits 1 on an invalid annotation', async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mz-cni-rules-'));
    try {
      const c = POD_CASES.find((p) => p.golden === 'dns-ipv6');
      if (c === undefined) throw new Error('no dns-ipv6 case');
      writeFileSync(path.join(dir, 'pod.yaml'), c.yaml);
      writeFileSync(path.join(dir, 'bad.yaml'), invalidAnnotationPod(ANNOTATION.excludeInboundPorts, 'x'));
      const settings = path.join(dir, 'settings');
      mkdirSync(settings);
      writeFileSync(path.join(settings, 'excludeNamespaces'), 'kube-system,other');
      const cli = path.join(here, '../../../bin/mizzen');
      const { stdout } = await promisify(execFile)(cli, ['cni', 'rules', '-f', path.join(dir, 'pod.yaml'), '--ipv6', '--settings', settings]);
      expect(stdout).to.equal(readFileSync(path.join(here, 'testdata', 'cni-rules', 'dns-ipv6.golden'), 'utf8'));
      const failed = await promisify(execFile)(cli, ['cni', 'rules', '-f', path.join(dir, 'bad.yaml')]).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
      expect(failed.code).to.equal(1);
      expect(failed.stderr).to.include(ANNOTATION.excludeInboundPorts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
