import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import YAML from 'yaml';
import { repoRoot } from '../lib/cluster.js';

const exec = promisify(execFile);
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const repository = (YAML.parse(fs.readFileSync(path.join(repoRoot, 'charts/mizzen/values.yaml'), 'utf8')) as { image: { repository: string } }).image.repository;
const archive = path.join(repoRoot, `dist/images/mizzen-${pkg.version}.tar`);

interface Descriptor {
  digest: string;
  size: number;
  mediaType: string;
  annotations?: Record<string, string>;
}

async function run(cmd: string, args: string[], opts: { input?: string } = {}): Promise<string> {
  const p = exec(cmd, args, { cwd: repoRoot, maxBuffer: 64 << 20 });
  if (opts.input !== undefined) {
    p.child.stdin?.end(opts.input);
  }
  return (await p).stdout;
}

/** scripts/image: the digest is the last line of stdout. */
async function buildImage(args: string[] = []): Promise<{ digest: string; seconds: number }> {
  const start = process.hrtime.bigint();
  const out = await run(path.join(repoRoot, 'scripts/image'), args);
  return { digest: out.trim().split('\n').pop() ?? '', seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('the mizzen image (scripts/image)', function () {
  this.timeout(30 * 60_000); // a cold build downloads Debian packages, runs npm ci and builds mkimage
  let tmp: string;
  let digest: string;
  let blobs: string;
  let manifest: { config: Descriptor; layers: Descriptor[] };

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-image-'));
    const first = await buildImage();
    digest = first.digest;
    console.log(`      scripts/image: ${first.seconds.toFixed(0)} s (cached parts reused), ${(fs.statSync(archive).size / 2 ** 20).toFixed(0)} MiB, ${digest}`);
    blobs = path.join(tmp, 'archive');
    fs.mkdirSync(blobs);
    await run('tar', ['-xf', archive, '-C', blobs]);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const blob = (d: Descriptor | { digest: string }): string => path.join(blobs, 'blobs/sha256', d.digest.replace(/^sha256:/, ''));

  it('is an OCI archive that containerd imports under the reference the chart and the renderer use', () => {
    expect(digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(fs.readFileSync(path.join(blobs, 'oci-layout'), 'utf8'))).to.deep.equal({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(fs.readFileSync(path.join(blobs, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(index.manifests).to.have.length(1);
    const [m] = index.manifests;
    expect(m?.digest).to.equal(digest);
    expect(m?.annotations).to.deep.equal({ 'io.containerd.image.name': `${repository}:${pkg.version}`, 'org.opencontainers.image.ref.name': pkg.version });
    manifest = JSON.parse(fs.readFileSync(blob(m!), 'utf8')) as typeof manifest;
    expect(`sha256:${sha256(blob(m!))}`).to.equal(digest);
    const config = JSON.parse(fs.readFileSync(blob(manifest.config), 'utf8')) as { config: { User: string; Entrypoint: string[] }; created: string };
    expect(config.config.User).to.equal('65532:65532');
    expect(config.config.Entrypoint).to.deep.equal(['/usr/local/bin/mizzen']);
    expect(config.created).to.equal('1970-01-01T00:00:00Z');
    for (const l of manifest.layers) console.log(`      layer ${l.digest.slice(7, 19)} ${(l.size / 2 ** 20).toFixed(1)} MiB`);
  });

  it('holds node, iptables (nft and legacy, v4 and v6), nft, ip, nsenter, dist/js and mizzen-cni, and no dev dependency', async () => {
    const entries = new Set<string>();
    for (const l of manifest.layers) for (const e of (await run('tar', ['-tzf', blob(l)])).split('\n')) if (e) entries.add(e.replace(/\/$/, ''));
    for (const want of [
      'usr/local/bin/node',
      'usr/local/bin/mizzen',
      'usr/sbin/xtables-nft-multi',
      'usr/sbin/xtables-legacy-multi',
      'usr/sbin/iptables-nft-restore',
      'usr/sbin/ip6tables-nft-restore',
      'usr/sbin/iptables-legacy-save',
      'usr/sbin/ip6tables-legacy-save',
      'usr/sbin/nft',
      'usr/bin/nsenter',
      'usr/bin/ip',
      'etc/ssl/certs/ca-certificates.crt',
      'opt/mizzen/package.json',
      'opt/mizzen/dist/js/cli/run.js',
      'opt/mizzen/dist/mizzen-cni',
      'opt/mizzen/node_modules/@kubernetes/client-node/package.json',
    ]) {
      expect(entries.has(want), want).to.equal(true);
    }
    for (const dev of ['tsx', 'typescript', 'mocha', 'eslint', 'esbuild', 'chai', 'postject']) {
      expect(entries.has(`opt/mizzen/node_modules/${dev}`), `dev dependency ${dev}`).to.equal(false);
    }
    // Compiled JavaScript only: no TypeScript sources, maps or build stamps of ours.
    const ours = [...entries].filter((e) => e.startsWith('opt/mizzen/') && !e.startsWith('opt/mizzen/node_modules'));
    expect(ours.filter((e) => e.startsWith('opt/mizzen/operator') || /\.(ts|map)$|\.stamp$|\.tsbuildinfo$/.test(e))).to.deep.equal([]);
  });

  it('is reproducible: assembled again from scratch, the same digest and the same bytes', async () => {
    const again = path.join(tmp, 'again.tar');
    const second = await buildImage(['--force', '--out', again]);
    console.log(`      scripts/image --force: ${second.seconds.toFixed(0)} s`);
    expect(second.digest).to.equal(digest);
    expect(sha256(again)).to.equal(sha256(archive));
  });

  it('runs as uid 65532 on a read-only root: `mizzen version`, `mizzen manifest generate`; every binary finds its libraries', async function () {
    if (process.getuid?.() !== 0) this.skip(); // unpacking owners and chroot need root
    const rootfs = path.join(tmp, 'rootfs');
    fs.mkdirSync(rootfs);
    for (const l of manifest.layers) await run('tar', ['-xzf', blob(l), '-C', rootfs]);
    // A private mount namespace: the unpacked root bind-mounted read-only onto itself, then chroot as 65532.
    const asNonRoot = (args: string[], input?: string): Promise<string> =>
      run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec chroot --userspec=65532:65532 "$0" "$@"', rootfs, ...args], { input });
    expect((await asNonRoot(['/usr/local/bin/mizzen', 'version'])).trim()).to.equal(pkg.version);
    const seed = fs.readFileSync(path.join(repoRoot, 'config/samples/install_v1alpha1_istiooperator_seed.yaml'), 'utf8');
    const inImage = await asNonRoot(['/usr/local/bin/mizzen', 'manifest', 'generate', '-f', '-'], seed);
    const onHost = await run(path.join(repoRoot, 'bin/mizzen'), ['manifest', 'generate', '-f', '-'], { input: seed });
    expect(inImage).to.equal(onHost);

    for (const [tool, out] of [
      ['iptables-nft-save', /nf_tables/],
      ['ip6tables-legacy-restore', /legacy/],
      ['nft', /nftables v1/],
      ['nsenter', /util-linux/],
    ] as const) {
      expect(await run('chroot', [rootfs, tool, '--version']), tool).to.match(out);
    }
    const missing: string[] = [];
    for (const file of (await run('find', [rootfs, '-type', 'f', '(', '-perm', '-u+x', '-o', '-name', '*.so*', ')'])).split('\n').filter(Boolean)) {
      const fd = fs.openSync(file, 'r');
      const magic = Buffer.alloc(4);
      fs.readSync(fd, magic, 0, 4, 0);
      fs.closeSync(fd);
      if (magic.toString('latin1') !== '\x7fELF') continue;
      const inside = `/${path.relative(rootfs, file)}`;
      const list = await run('chroot', [rootfs, '/lib64/ld-linux-x86-64.so.2', '--list', inside]).catch((err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`);
      for (const line of list.split('\n')) if (line.includes('not found')) missing.push(`${inside}: ${line.trim()}`);
    }
    expect(missing).to.deep.equal([]);
  });
});
