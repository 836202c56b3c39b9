// install-cni on real directories: copy, insert, keep inserted while the primary CNI rewrites its file, uninstall.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { silentLogger } from '../../src/util/log.js';
import { pluginEntry } from '../../src/agent/conflist.js';
import { CniInstaller } from '../../src/agent/install.js';
import { tempDir } from './helpers.js';

const entry = pluginEntry({ agentSocket: '/var/run/mizzen/cni.sock' });
const bridge = { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.1.0.0/16' } };
const primary = (plugins: unknown[] = [bridge]): string => JSON.stringify({ cniVersion: '1.0.0', name: 'k8s', plugins });

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('install-cni', function () {
  this.timeout(15_000);
  let dir: string;
  let bin: string;
  let conf: string;
  let source: string;
  let installer: CniInstaller;
  const make = (opts: { confFileName?: string; checkIntervalMs?: number } = {}): CniInstaller =>
    new CniInstaller({ pluginSource: source, cniBinDir: bin, cniConfDir: conf, confFileName: opts.confFileName ?? '', entry, checkIntervalMs: opts.checkIntervalMs ?? 1000, log: silentLogger() });
  const read = (name: string): { plugins: { type: string }[] } => JSON.parse(fs.readFileSync(path.join(conf, name), 'utf8')) as { plugins: { type: string }[] };
  const types = (name: string): string[] => read(name).plugins.map((p) => p.type);

  beforeEach(() => {
    dir = tempDir('install');
    bin = path.join(dir, 'bin');
    conf = path.join(dir, 'net.d');
    fs.mkdirSync(conf);
    source = path.join(dir, 'mizzen-cni.src');
    fs.writeFileSync(source, '#!/bin/sh\necho plugin v1\n', { mode: 0o755 });
  });
  afterEach(() => {
    installer?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('copies the plugin executable into cniBinDir once, and again only when it changed', async () => {
    installer = make();
    expect(await installer.installBinary()).to.equal(true);
    expect(fs.readFileSync(path.join(bin, 'mizzen-cni'), 'utf8')).to.equal('#!/bin/sh\necho plugin v1\n');
    expect(fs.statSync(path.join(bin, 'mizzen-cni')).mode & 0o777).to.equal(0o755);
    expect(await installer.installBinary()).to.equal(false);
    fs.writeFileSync(source, '#!/bin/sh\necho plugin v2\n');
    expect(await installer.installBinary()).to.equal(true);
    expect(fs.readdirSync(bin)).to.deep.equal(['mizzen-cni']);
  });

  it('inserts the entry at the end of the primary conflist and reports the file', async () => {
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary([bridge, { type: 'portmap' }]));
    installer = make();
    expect(await installer.install()).to.equal('10-k8s.conflist');
    expect(types('10-k8s.conflist')).to.deep.equal(['bridge', 'portmap', 'mizzen-cni']);
    expect(read('10-k8s.conflist').plugins[2]).to.deep.equal(entry);
  });

  it('wraps a single .conf into a .conflist and removes the .conf', async () => {
    fs.writeFileSync(path.join(conf, '10-bridge.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'br', ...bridge }));
    installer = make();
    expect(await installer.install()).to.equal('10-bridge.conflist');
    expect(fs.readdirSync(conf).filter((n) => !n.startsWith('.'))).to.deep.equal(['10-bridge.conflist']);
    expect(types('10-bridge.conflist')).to.deep.equal(['bridge', 'mizzen-cni']);
  });

  it('waits for the primary CNI to write its configuration before completing', async () => {
    installer = make({ checkIntervalMs: 100 });
    let done = false;
    const installed = installer.install().then((f) => {
      done = true;
      return f;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(done).to.equal(false);
    fs.writeFileSync(path.join(conf, '05-late.conflist'), primary());
    expect(await installed).to.equal('05-late.conflist');
    expect(types('05-late.conflist')).to.deep.equal(['bridge', 'mizzen-cni']);
  });

  it('uses cniConfFileName instead of the first file when it is set', async () => {
    fs.writeFileSync(path.join(conf, '10-a.conflist'), primary());
    fs.writeFileSync(path.join(conf, '20-b.conflist'), primary());
    installer = make({ confFileName: '20-b.conflist' });
    await installer.install();
    expect([types('10-a.conflist'), types('20-b.conflist')]).to.deep.equal([['bridge'], ['bridge', 'mizzen-cni']]);
  });

  it('re-inserts at once when the primary CNI rewrites its file (file watch; times printed)', async () => {
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary());
    installer = make({ checkIntervalMs: 60_000 }); // only the watch can be this fast
    await installer.install();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary([bridge, { type: `tuning${i}` }]));
      await until('our entry back', () => types('10-k8s.conflist').at(-1) === 'mizzen-cni', 20_000);
      const took = Date.now() - started;
      console.log(`      entry back ${took} ms after rewrite ${i + 1}`);
      // The periodic check is 60 s here: anything well below that was the file watch.
      expect(took).to.be.below(20_000);
      expect(types('10-k8s.conflist')).to.deep.equal(['bridge', `tuning${i}`, 'mizzen-cni']);
    }
  });

  it('re-wraps a .conf the primary CNI writes again', async () => {
    fs.writeFileSync(path.join(conf, '10-flannel.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', type: 'flannel' }));
    installer = make();
    await installer.install();
    fs.writeFileSync(path.join(conf, '10-flannel.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', type: 'flannel', delegate: { hairpinMode: true } }));
    await until('the .conf wrapped again', () => !fs.existsSync(path.join(conf, '10-flannel.conf')));
    expect(read('10-flannel.conflist').plugins).to.deep.equal([{ cniVersion: '0.3.1', name: 'cbr0', type: 'flannel', delegate: { hairpinMode: true } }, entry]);
  });

  it('keeps the entry when the whole directory is replaced (the watch is re-established by the periodic check)', async () => {
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary());
    installer = make({ checkIntervalMs: 200 });
    await installer.install();
    fs.rmSync(conf, { recursive: true });
    fs.mkdirSync(conf, { recursive: true });
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary());
    await until('our entry back', () => fs.existsSync(path.join(conf, '10-k8s.conflist')) && types('10-k8s.conflist').at(-1) === 'mizzen-cni', 5000);
  });

  it('uninstall removes exactly its own entry and the binary, and leaves other files as they were', async () => {
    const other = primary([bridge]);
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary([bridge, { type: 'portmap' }]));
    fs.writeFileSync(path.join(conf, '99-other.conflist'), other);
    installer = make();
    await installer.install();
    expect(await installer.uninstall()).to.deep.equal(['10-k8s.conflist']);
    expect(types('10-k8s.conflist')).to.deep.equal(['bridge', 'portmap']);
    expect(fs.readFileSync(path.join(conf, '99-other.conflist'), 'utf8')).to.equal(other);
    expect(fs.existsSync(path.join(bin, 'mizzen-cni'))).to.equal(false);
    // No longer watching: a rewrite stays as written.
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary());
    await new Promise((r) => setTimeout(r, 200));
    expect(types('10-k8s.conflist')).to.deep.equal(['bridge']);
    expect(fs.readdirSync(conf).filter((n) => n.startsWith('.'))).to.deep.equal([]);
  });

  it('uninstall keeps the binary for binaryGraceMs after the entry is gone, for an ADD that read the old configuration', async () => {
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), primary());
    installer = new CniInstaller({ pluginSource: source, cniBinDir: bin, cniConfDir: conf, confFileName: '', entry, checkIntervalMs: 1000, log: silentLogger(), binaryGraceMs: 3000 });
    await installer.install();
    const done = installer.uninstall();
    await until('our entry gone', () => types('10-k8s.conflist').at(-1) === 'bridge', 5000);
    expect(fs.existsSync(path.join(bin, 'mizzen-cni')), 'the binary right after the entry went').to.equal(true);
    await done;
    expect(fs.existsSync(path.join(bin, 'mizzen-cni'))).to.equal(false);
  });

  // Formatted as people and distributions write them: not as JSON.stringify would.
  const handwritten = '{\n  "cniVersion": "1.0.0",\n  "name": "k8s",\n  "plugins": [\n    {"type": "bridge", "bridge": "cni0",\n     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.0.0/24"}]]}},\n    {"type": "portmap", "capabilities": {"portMappings": true}}\n  ]\n}\n';

  it('uninstall writes the primary CNI\'s file back byte for byte, with its mode, and leaves no kept copy', async () => {
    const file = path.join(conf, '10-k8s.conflist');
    fs.writeFileSync(file, handwritten, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    installer = make();
    await installer.install();
    expect(types('10-k8s.conflist')).to.deep.equal(['bridge', 'portmap', 'mizzen-cni']);
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(await installer.uninstall()).to.deep.equal(['10-k8s.conflist']);
    expect(fs.readFileSync(file, 'utf8')).to.equal(handwritten);
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(fs.readdirSync(conf)).to.deep.equal(['10-k8s.conflist']);
  });

  it('uninstall brings back a wrapped .conf as it was and removes the .conflist', async () => {
    const single = '{ "cniVersion": "0.4.0", "name": "br", "type": "bridge" }\n';
    fs.writeFileSync(path.join(conf, '10-bridge.conf'), single);
    installer = make();
    await installer.install();
    expect(await installer.uninstall()).to.deep.equal(['10-bridge.conf']);
    expect(fs.readdirSync(conf)).to.deep.equal(['10-bridge.conf']);
    expect(fs.readFileSync(path.join(conf, '10-bridge.conf'), 'utf8')).to.equal(single);
  });

  it('a new agent on a file an earlier one chained still restores the original bytes', async () => {
    fs.writeFileSync(path.join(conf, '10-k8s.conflist'), handwritten);
    installer = make();
    await installer.install();
    installer.stop(); // the earlier agent died without uninstalling
    installer = make();
    await installer.install();
    await installer.uninstall();
    expect(fs.readFileSync(path.join(conf, '10-k8s.conflist'), 'utf8')).to.equal(handwritten);
  });

  it('keeps what the primary CNI wrote after our insert: its latest file comes back, or only our entry goes', async () => {
    const file = path.join(conf, '10-k8s.conflist');
    fs.writeFileSync(file, handwritten);
    installer = make();
    await installer.install();
    // The primary CNI rewrites its file (our entry is re-inserted): uninstall restores that newer file.
    const newer = handwritten.replace('cni0', 'cni1');
    fs.writeFileSync(file, newer);
    await until('our entry back', () => types('10-k8s.conflist').at(-1) === 'mizzen-cni');
    await installer.uninstall();
    expect(fs.readFileSync(file, 'utf8')).to.equal(newer);
    // Changed while our entry stays in (nothing re-inserts): only our entry is removed from that content.
    installer = make();
    await installer.install();
    installer.stop();
    const edited = JSON.parse(fs.readFileSync(file, 'utf8')) as { plugins: { type: string }[] };
    edited.plugins.splice(1, 0, { type: 'tuning' });
    fs.writeFileSync(file, JSON.stringify(edited));
    installer = make();
    await installer.install();
    await installer.uninstall();
    expect(types('10-k8s.conflist')).to.deep.equal(['bridge', 'tuning', 'portmap']);
    expect(fs.readdirSync(conf)).to.deep.equal(['10-k8s.conflist']);
  });
});
