import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { e2e } from '../lib/env.js';
import { repoRoot } from '../lib/cluster.js';

interface Outcome {
  code: number | null;
  stderr: string;
  stdout: string;
}

/** Runs `bin/mizzen ARGS` to its end (killed after 150 s) in an environment without any kubeconfig of the user. */
function mizzen(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'KUBECONFIG' && k !== 'KUBERNETES_SERVICE_HOST') base[k] = v;
  return new Promise((resolve) => {
    const child = spawn(path.join(repoRoot, 'bin/mizzen'), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

/** One line on stderr, nothing else, exit status 1. */
function expectOneLine(out: Outcome, pattern: RegExp): void {
  const lines = out.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, `stderr:\n${out.stderr}`).to.have.length(1);
  expect(lines[0]).to.match(pattern);
  expect(out.stdout).to.equal('');
  expect(out.code).to.equal(1);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('start-up errors of bin/mizzen: one clear line and exit status 1', function () {
  this.timeout(400_000);
  let dir: string;
  let home: string;
  const operator = ['operator', '--no-leader-elect', '--controllers', '', '--probe-addr', '127.0.0.1:0'];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-startup-'));
    home = fs.mkdtempSync(path.join(dir, 'home-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The e2e cluster's kubeconfig with its current cluster changed. */
  function variant(name: string, change: (cluster: { server: string; caData?: string; caFile?: string }, kc: KubeConfig) => Record<string, unknown>): string {
    const kc = new KubeConfig();
    kc.loadFromFile(e2e.kubeconfig);
    const current = kc.getCurrentCluster()!;
    const changed = { ...current, ...change(current, kc) };
    const out = new KubeConfig();
    out.loadFromOptions({ clusters: kc.getClusters().map((c) => (c.name === current.name ? changed : c)), users: kc.getUsers(), contexts: kc.getContexts(), currentContext: kc.getCurrentContext() });
    const file = path.join(dir, name);
    fs.writeFileSync(file, out.exportConfig());
    return file;
  }

  it('no kubeconfig anywhere', async () => {
    expectOneLine(await mizzen(operator, { HOME: home }), /^Error: no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, create ~\/\.kube\/config/);
  });

  it('an API server that cannot be reached', async () => {
    const port = await freePort();
    const file = variant('unreachable', () => ({ server: `https://127.0.0.1:${port}` }));
    expectOneLine(await mizzen([...operator, '--kubeconfig', file], { HOME: home }), new RegExp(`^Error: cannot reach the API server https://127\\.0\\.0\\.1:${port} \\(connection refused; kubeconfig: --kubeconfig .*unreachable\\)`));
  });

  it('a TLS failure (the server certificate is not signed by the configured CA)', async () => {
    // Another certificate as the CA: the user's client certificate, which did not sign the serving certificate.
    const file = variant('wrong-ca', (_c, kc) => {
      const user = kc.getCurrentUser()!;
      const cert = user.certData ?? (user.certFile ? fs.readFileSync(user.certFile).toString('base64') : undefined);
      expect(cert, 'the e2e kubeconfig authenticates with a client certificate').to.be.a('string');
      return { caData: cert, caFile: undefined };
    });
    expectOneLine(await mizzen([...operator, '--kubeconfig', file], { HOME: home }), /^Error: TLS with the API server https:\/\/\S+ failed: .+; check the cluster's certificate-authority in the kubeconfig \(--kubeconfig .*wrong-ca\)$/);
  });

  it('a probe port that is already in use', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const out = await mizzen(['operator', '--no-leader-elect', '--controllers', '', '--probe-addr', `127.0.0.1:${port}`, '--log-level', 'error', '--kubeconfig', e2e.kubeconfig], { HOME: home });
      expectOneLine(out, new RegExp(`^Error: --probe-addr 127\\.0\\.0\\.1:${port}: the address is already in use by another process`));
    } finally {
      server.close();
    }
  });

  it('invalid log level and format, for the operator and the agent alike', async () => {
    expectOneLine(await mizzen([...operator, '--log-level', 'warning']), /^Error: --log-level must be one of debug, info, warn, error, none, got "warning"$/);
    expectOneLine(await mizzen(['agent', '--node-name', 'n', '--log-level', 'warning']), /^Error: --log-level must be one of debug, info, warn, error, none, got "warning"$/);
    expectOneLine(await mizzen([...operator, '--log-format', 'yaml']), /^Error: --log-format must be json or text, got "yaml"$/);
  });

  it('a KUBECONFIG list is read as kubectl reads it: missing files skipped, the first file that exists used', async () => {
    const list = [path.join(dir, 'does-not-exist'), e2e.kubeconfig].join(path.delimiter);
    const child = spawn(path.join(repoRoot, 'bin/mizzen'), [...operator, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: home, KUBECONFIG: list } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 150_000;
    while (!stderr.includes('Started operator') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).to.include('Started operator');
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    // And a list of files none of which exists says so.
    expectOneLine(await mizzen(operator, { HOME: home, KUBECONFIG: `${dir}/a${path.delimiter}${dir}/b` }), /^Error: no kubeconfig: none of the files in KUBECONFIG=.*\/a:.*\/b exists$/);
  });
});
