// The real-netns CNI lab: network namespaces created with `ip netns`, Debian's containernetworking-plugins
// (bridge + host-local) as the primary CNI on a bridge and a /24 that belong to the test alone, mizzen-cni chained
// after it by the agent's install-cni, all driven by cnitool as a container runtime would. Traffic only ever goes
// to loopback or to addresses inside the namespaces a lab created. cleanup() removes every netns, the bridge,
// libcni cache files, temporary directories and processes the lab started, and /var/lib/cni if it created it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node';
import type { KubeClient } from '../../../operator/src/kube/client.js';
import { R } from '../../../operator/src/kube/resources.js';
import { cniConfigData, type IstioOperator } from '../../../operator/src/render/index.js';
import { clusterCmd, kubectl, repoRoot, waitFor } from '../lib/cluster.js';
import { collectJsonLogs } from '../lib/operator.js';
import { agentIdentity, agentRbac, refusedInLogs, refusedRequests, tokenInLogs, type Identity } from '../lib/rbac.js';

const exec = promisify(execFile);
export const CNI_PLUGINS = '/usr/lib/cni';
/** The kwok node the agents under test serve. */
export const NODE = 'kwok-node-0';
const CNI_CACHE = '/var/lib/cni';

export async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(Object.assign(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim() || out.trim()}`), { stdout: out, stderr: err, code }))));
    child.stdin.on('error', () => undefined); // a command that reads no stdin may exit before we close it
    child.stdin.end(input ?? '');
  });
}

/** Why the real-netns suites cannot run here, or undefined. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)';
  if (!fs.existsSync(path.join(CNI_PLUGINS, 'bridge'))) return `needs containernetworking-plugins in ${CNI_PLUGINS} (scripts/setup installs it)`;
  return undefined;
}

/** A small TCP tool run inside a netns: `listen TAG PORT...` answers `TAG:localPort`; `dial HOST PORT` prints the answer. */
const TCP_TOOL = `
const net = require('net');
const [mode, ...a] = process.argv.slice(1);
if (mode === 'listen') {
  const [tag, ...ports] = a;
  let n = 0;
  for (const p of ports) net.createServer((s) => s.end(tag + ':' + s.localPort + '\\n')).listen(Number(p), '0.0.0.0', () => { if (++n === ports.length) console.log('ready'); });
} else {
  const s = net.connect(Number(a[1]), a[0]);
  let d = '';
  s.on('data', (c) => (d += c));
  s.on('end', () => { process.stdout.write(d.trim()); process.exit(0); });
  s.on('error', (e) => { process.stdout.write('ERR ' + e.code); process.exit(0); });
  setTimeout(() => { process.stdout.write('TIMEOUT'); process.exit(0); }, 4000);
}`;

export interface AgentProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  probeUrl: string;
  exited: Promise<number | null>;
  /** Its requests the API server refused (401/403, from its metrics), read just before stopAgent stopped it. */
  refusedAtStop?: Record<string, number>;
}

/**
 * An IstioOperator that enables the cni component with these values.cni: the lab's agent gets the ConfigMap data
 * and the RBAC that the operator renders for it.
 */
export function agentIop(cni: Record<string, unknown>): IstioOperator {
  return {
    apiVersion: 'install.istio.io/v1alpha1',
    kind: 'IstioOperator',
    metadata: { name: 'mz-cni-lab', namespace: 'istio-system' },
    spec: { profile: 'empty', components: { cni: { enabled: true, namespace: 'kube-system' } }, values: { cni } },
  };
}

/** What the agents of a lab did with their identity. */
export interface IdentityFindings {
  /** Who the API server takes the identity's kubeconfig for. */
  user: string;
  /** Requests refused (401/403) by verb and code, from the metrics of every agent that could still be asked. */
  refused: Record<string, number>;
  /** Agents whose metrics were read (running, or read before a graceful stop), of all started. */
  metricsRead: number;
  agents: number;
  /** Log lines, of every agent, about a refused request. */
  refusedLines: string[];
  /** Log lines, of every agent, that carry the token (in clear or base64). */
  tokenLines: string[];
  /** Log lines searched. */
  lines: number;
}

export interface LabOptions {
  /** Third octet of 10.250.X.0/24, unique per suite. */
  readonly octet: number;
  readonly cniVersion?: string;
}

export class CniLab {
  readonly dir: string;
  readonly binDir: string;
  readonly confDir: string;
  readonly socketDir: string;
  readonly configDir: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly network: string;
  readonly cniVersion: string;
  private readonly netnses = new Set<string>();
  private readonly procs = new Set<ChildProcess>();
  /** Every agent started, for the checks of its identity. */
  readonly agents: AgentProcess[] = [];
  /** The agent's ServiceAccount identity (configureAgent), removed by cleanup(). */
  identity?: Identity;
  private cacheExisted = true;
  private cnitoolPath = '';

  constructor(readonly opts: LabOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `mz-cni-e2e-${opts.octet}-`));
    this.binDir = path.join(this.dir, 'bin');
    this.confDir = path.join(this.dir, 'net.d');
    this.socketDir = path.join(this.dir, 'run');
    this.configDir = path.join(this.dir, 'config');
    for (const d of [this.binDir, this.confDir, this.socketDir, this.configDir, path.join(this.dir, 'ipam')]) fs.mkdirSync(d);
    this.bridge = `mzbr${opts.octet}-${process.pid % 100000}`;
    this.subnet = `10.250.${opts.octet}.0/24`;
    this.network = `mz-e2e-${opts.octet}`;
    this.cniVersion = opts.cniVersion ?? '1.0.0';
  }

  async init(): Promise<void> {
    const routes = await sh('ip', ['-4', 'route', 'show', 'root', `10.250.${this.opts.octet}.0/24`]);
    if (routes.trim() !== '') throw new Error(`The host already routes ${this.subnet} (${routes.trim()}); the CNI lab needs it unused`);
    // The agent installs the built plugin; scripts/test builds it first, this covers a suite run on its own.
    await exec(path.join(repoRoot, 'scripts/build-cni'), [], { maxBuffer: 1 << 20 });
    this.cacheExisted = fs.existsSync(CNI_CACHE);
    // The bridge plugin would create the bridge itself, but then its MAC follows the lowest port MAC and the
    // plugin's own CHECK fails once a second pod joins; a bridge with a fixed address keeps CHECK meaningful.
    await sh('ip', ['link', 'add', 'name', this.bridge, 'type', 'bridge']);
    await sh('ip', ['link', 'set', this.bridge, 'address', `02:00:0a:fa:${this.opts.octet.toString(16).padStart(2, '0')}:01`, 'up']);
    this.cnitoolPath = path.join(await clusterCmd('bin-dir'), 'cnitool');
  }

  /** The primary CNI's configuration, as a CNI plugin's installer would write it. */
  primaryConfig(): Record<string, unknown> {
    return {
      cniVersion: this.cniVersion,
      name: this.network,
      plugins: [
        {
          type: 'bridge',
          bridge: this.bridge,
          isGateway: false,
          ipMasq: false,
          ipam: { type: 'host-local', dataDir: path.join(this.dir, 'ipam'), ranges: [[{ subnet: this.subnet, rangeStart: `10.250.${this.opts.octet}.10`, rangeEnd: `10.250.${this.opts.octet}.250` }]] },
        },
      ],
    };
  }

  writePrimary(file = '10-mz-e2e.conflist'): string {
    const p = path.join(this.confDir, file);
    fs.writeFileSync(p, JSON.stringify(this.primaryConfig(), null, 2));
    return p;
  }

  readConf(file = '10-mz-e2e.conflist'): { plugins: Record<string, unknown>[] } {
    return JSON.parse(fs.readFileSync(path.join(this.confDir, file), 'utf8')) as { plugins: Record<string, unknown>[] };
  }

  writeAgentConfig(data: Record<string, string>): void {
    for (const f of fs.readdirSync(this.configDir)) fs.rmSync(path.join(this.configDir, f));
    for (const [k, v] of Object.entries(data)) fs.writeFileSync(path.join(this.configDir, k), v);
  }

  /**
   * Configures the next agent as the operator would for an IstioOperator with these values.cni: its ConfigMap
   * data in the config directory, and exactly its rendered RBAC (the istio-cni ServiceAccount, ClusterRole and
   * binding, applied or updated in the cluster of `adminKubeconfig`). Returns the kubeconfig to start it with: a
   * TokenRequest token of that ServiceAccount.
   */
  async configureAgent(adminKubeconfig: string, cni: Record<string, unknown>): Promise<string> {
    const iop = agentIop(cni);
    this.writeAgentConfig(cniConfigData(iop));
    if (this.identity) await this.identity.update(agentRbac(iop));
    else this.identity = await agentIdentity(adminKubeconfig, iop);
    return this.identity.kubeconfig;
  }

  /**
   * Whether the agents ran with exactly their rendered RBAC and kept their credential out of their logs: requests
   * refused (metrics of each agent still running, or read before it was stopped gracefully; the log of every
   * agent) and log lines that carry the identity's token.
   */
  async identityFindings(): Promise<IdentityFindings> {
    const token = this.identity?.token;
    if (!token) throw new Error('the agents ran without configureAgent(): no identity to check');
    const refused: Record<string, number> = {};
    let metricsRead = 0;
    for (const a of this.agents) {
      const alive = a.child.exitCode === null && a.child.signalCode === null;
      const counts = alive ? await refusedRequests(a).catch(() => undefined) : a.refusedAtStop;
      if (!counts) continue;
      metricsRead++;
      for (const [k, n] of Object.entries(counts)) refused[k] = (refused[k] ?? 0) + n;
    }
    const user = await kubectl(this.identity!.kubeconfig, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    return {
      user,
      refused,
      metricsRead,
      agents: this.agents.length,
      refusedLines: this.agents.flatMap((a) => refusedInLogs(a.logs)),
      tokenLines: this.agents.flatMap((a) => tokenInLogs(a.logs, token)),
      lines: this.agents.reduce((n, a) => n + a.logs.length, 0),
    };
  }

  async addNetns(name: string): Promise<string> {
    await sh('ip', ['netns', 'add', name]);
    this.netnses.add(name);
    // As the runtime's loopback plugin does for a pod sandbox.
    await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return `/run/netns/${name}`;
  }

  async delNetns(name: string): Promise<void> {
    await sh('ip', ['netns', 'del', name]).catch(() => undefined);
    this.netnses.delete(name);
  }

  /** cnitool COMMAND against this lab's configuration directory (or another one). */
  async cnitool(command: 'add' | 'check' | 'del', netns: string, pod?: { namespace: string; name: string; uid?: string }, confDir = this.confDir): Promise<string> {
    const args = ['IgnoreUnknown=1'];
    if (pod) args.push(`K8S_POD_NAMESPACE=${pod.namespace}`, `K8S_POD_NAME=${pod.name}`, ...(pod.uid ? [`K8S_POD_UID=${pod.uid}`] : []));
    const { stdout } = await exec(this.cnitoolPath, [command, this.network, `/run/netns/${netns}`], {
      env: { ...process.env, CNI_PATH: `${this.binDir}:${CNI_PLUGINS}`, NETCONFPATH: confDir, CNI_ARGS: args.join(';') },
    });
    return stdout;
  }

  /**
   * Runs the installed plugin the way a runtime does (CNI_* environment, the chain's entry with prevResult on
   * stdin). Resolves with exit code and stdout.
   */
  async execPlugin(command: string, netns: string, pod: { namespace: string; name: string; uid?: string }, prevResult: unknown, confDir = this.confDir): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const file = fs.readdirSync(confDir).find((f) => f.endsWith('.conflist'));
    const list = JSON.parse(fs.readFileSync(path.join(confDir, file ?? ''), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    const entry = list.plugins.find((p) => p.type === 'mizzen-cni');
    const stdin = JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...entry, prevResult });
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(this.binDir, 'mizzen-cni'), [], {
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: `mz-e2e-${netns}`,
          CNI_NETNS: `/run/netns/${netns}`,
          CNI_IFNAME: 'eth0',
          CNI_PATH: `${this.binDir}:${CNI_PLUGINS}`,
          CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name}${pod.uid ? `;K8S_POD_UID=${pod.uid}` : ''}`,
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    });
  }

  /**
   * The plugin types of the chain a runtime ran for the last successful `cnitool add` in a netns, from libcni's
   * result cache (it keeps the conflist it used); undefined when there is no entry.
   */
  cachedChain(netns: string): string[] | undefined {
    // cnitool's container id: "cnitool-" and the first 10 bytes of the SHA-512 of the netns path, in hex.
    const containerId = `cnitool-${createHash('sha512').update(`/run/netns/${netns}`).digest('hex').slice(0, 20)}`;
    let doc: { config?: string };
    try {
      doc = JSON.parse(fs.readFileSync(path.join(CNI_CACHE, 'results', `${this.network}-${containerId}-eth0`), 'utf8')) as { config?: string };
    } catch {
      return undefined;
    }
    const list = JSON.parse(Buffer.from(doc.config ?? '', 'base64').toString('utf8')) as { plugins?: { type?: string }[] };
    return (list.plugins ?? []).map((p) => p.type ?? '');
  }

  /** The first IPv4 address on eth0 of a netns. */
  async ipOf(netns: string): Promise<string> {
    const out = await sh('ip', ['-n', netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
    if (!m?.[1]) throw new Error(`${netns} has no IPv4 address on eth0: ${out}`);
    return m[1];
  }

  async iptablesSave(netns: string, family: 'v4' | 'v6' = 'v4'): Promise<string> {
    const out = await sh('ip', ['netns', 'exec', netns, family === 'v4' ? 'iptables-save' : 'ip6tables-save']);
    return out
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]$/, '[0:0]'))
      .join('\n');
  }

  async ourChains(netns: string): Promise<string[]> {
    return (await this.iptablesSave(netns)).split('\n').filter((l) => /^:ISTIO_/.test(l)).map((l) => l.slice(1).split(' ')[0] ?? '');
  }

  /** Starts TCP listeners in a netns that answer `TAG:port`. */
  async listen(netns: string, tag: string, ports: number[]): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', TCP_TOOL, 'listen', tag, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(child);
    child.on('exit', () => this.procs.delete(child));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`listener in ${netns} exited (${code})`)));
    });
  }

  /** Opens a TCP connection from a netns as a uid and returns what the other end answered. */
  async dial(netns: string, host: string, port: number, uid = 1000): Promise<string> {
    return sh('nsenter', [`--net=/run/netns/${netns}`, '-S', String(uid), '-G', String(uid), process.execPath, '-e', TCP_TOOL, 'dial', host, String(port)]);
  }

  async startAgent(kubeconfig: string, extra: string[] = []): Promise<AgentProcess> {
    const child = spawn(
      path.join(repoRoot, 'bin/mizzen'),
      [
        'agent',
        '--kubeconfig',
        kubeconfig,
        '--node-name',
        'kwok-node-0',
        '--config-dir',
        this.configDir,
        '--cni-bin-dir',
        this.binDir,
        '--cni-conf-dir',
        this.confDir,
        '--socket-dir',
        this.socketDir,
        '--netns-dir',
        '/var/run/netns',
        '--cni-cache-dir',
        CNI_CACHE,
        '--plugin-path',
        path.join(repoRoot, 'dist/mizzen-cni'),
        '--probe-addr',
        '127.0.0.1:0',
        '--log-format',
        'json',
        '--log-level',
        'debug',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.procs.add(child);
    const logs = collectJsonLogs(child.stderr);
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        this.procs.delete(child);
        resolve(code);
      }),
    );
    const started = await waitFor('the agent probe server', () => logs.find((l) => l.message === 'Started probe server') ?? (child.exitCode !== null ? Promise.reject(new Error(`agent exited: ${JSON.stringify(logs.slice(-5))}`)) : undefined), 60_000, 50).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; its log: ${JSON.stringify(logs.slice(-5))}`);
    });
    const agent: AgentProcess = { child, logs, probeUrl: `http://${String(started.address)}`, exited };
    this.agents.push(agent);
    return agent;
  }

  async stopAgent(agent: AgentProcess | undefined): Promise<void> {
    if (!agent || agent.child.exitCode !== null || agent.child.signalCode !== null) return;
    agent.refusedAtStop = await refusedRequests(agent).catch(() => undefined);
    agent.child.kill('SIGTERM');
    await agent.exited;
  }

  /** Removes everything the lab created, whatever state a failed test left. */
  async cleanup(): Promise<void> {
    for (const p of this.procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of [...this.netnses]) await this.delNetns(ns);
    await sh('ip', ['link', 'del', this.bridge]).catch(() => undefined);
    const results = path.join(CNI_CACHE, 'results');
    if (fs.existsSync(results)) for (const f of fs.readdirSync(results)) if (f.startsWith(`${this.network}-`)) fs.rmSync(path.join(results, f), { force: true });
    if (!this.cacheExisted) {
      for (const d of [results, CNI_CACHE]) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not empty: someone else uses it now
        }
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    await this.identity?.remove();
  }
}

/** One line on a lab's IdentityFindings, for the suites to print. */
export function describeFindings(f: IdentityFindings): string {
  const refused = Object.entries(f.refused).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
  return `${f.agents} agent(s) as ${f.user}; requests refused (metrics of ${f.metricsRead}): ${refused}; ${f.lines} log lines searched: ${f.refusedLines.length} about a refused request, ${f.tokenLines.length} with the token`;
}

/**
 * Prints a lab's IdentityFindings and asserts that every agent ran as the istio-cni ServiceAccount with nothing
 * refused, no log line about a refusal or carrying the token, and every agent's metrics read. Returns them.
 */
export async function expectRenderedIdentity(lab: CniLab): Promise<IdentityFindings> {
  const f = await lab.identityFindings();
  console.log(`      ${describeFindings(f)}`);
  expect(f.user).to.equal('system:serviceaccount:kube-system:istio-cni');
  expect(f.refused, 'requests refused').to.deep.equal({});
  expect(f.refusedLines, 'log lines about a refused request').to.deep.equal([]);
  expect(f.tokenLines, 'log lines with the token').to.deep.equal([]);
  expect(f.metricsRead, 'agents whose metrics were read').to.equal(f.agents);
  return f;
}

export function agentTail(agent: AgentProcess | undefined, lines = 30): string {
  return (agent?.logs ?? [])
    .slice(-lines)
    .map((l) => JSON.stringify(l))
    .join('\n');
}

export async function ready(agent: AgentProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`${agent.probeUrl}/readyz`);
  return { status: res.status, body: await res.text() };
}

export async function metricSum(agent: AgentProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${agent.probeUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

export function podManifest(namespace: string, name: string, opts: { sidecar?: boolean; annotations?: Record<string, string>; labels?: Record<string, string> } = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, annotations: opts.annotations ?? {}, labels: opts.labels ?? {} },
    spec: {
      nodeName: NODE,
      containers: [{ name: 'app', image: 'app' }, ...(opts.sidecar === false ? [] : [{ name: 'istio-proxy', image: 'proxyv2' }])],
      tolerations: [{ operator: 'Exists' }],
    },
  };
}

/**
 * Creates a test namespace and waits for its default ServiceAccount: the API server refuses pods in a namespace
 * whose ServiceAccount the controller manager has not created yet ("error looking up service account").
 */
export async function createNamespace(c: KubeClient, name: string): Promise<void> {
  await c.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await waitFor(`the default ServiceAccount in ${name}`, () => c.get(R.serviceAccount, 'default', name), 60_000, 100);
}

export async function createPod(c: KubeClient, pod: V1Pod): Promise<{ namespace: string; name: string; uid: string }> {
  const created = await c.create(pod);
  return { namespace: created.metadata?.namespace ?? '', name: created.metadata?.name ?? '', uid: created.metadata?.uid ?? '' };
}

export interface PodEvent {
  reason?: string;
  type?: string;
  message?: string;
  involvedObject?: { name?: string; uid?: string };
}

/** The newest Event with this reason on the named pod, if any. */
export async function eventFor(c: KubeClient, namespace: string, pod: string, reason: string): Promise<PodEvent | undefined> {
  const events = await c.list<PodEvent & { metadata?: object }>(R.event, { namespace });
  return events.items.filter((e) => e.reason === reason && e.involvedObject?.name === pod).pop();
}

export async function getPod(c: KubeClient, namespace: string, name: string): Promise<V1Pod | undefined> {
  return c.get<V1Pod>(R.pod, name, namespace);
}
