// The mizzen-cni plugin: CNI VERSION, ADD, CHECK, DEL (and STATUS, GC of spec 1.1.0), chained after the primary
// CNI. It allocates nothing and passes prevResult through unchanged; for a Kubernetes pod it asks the node agent,
// in one socket round trip, to decide whether the pod gets sidecar redirection and to program its netns. The
// agent has the pod in its informer cache, so the plugin needs no API credentials.
//
// Pure apart from the injected `call`: the entry (cli/cni.ts) supplies stdin, the environment and the socket.
// Spawned once per pod sandbox, so it imports nothing but protocol.ts.
import type { CniEnv } from '../config/cni.js';
import {
  type AgentResponse,
  type CniError,
  type PluginCommand,
  type PluginRequest,
  type PodRef,
  CNI_ERROR,
  DEFAULT_SOCKET_PATH,
  SUPPORTED_VERSIONS,
  compareVersions,
  isSupportedVersion,
} from './protocol.js';

/** The plugin's own keys in its conflist entry. */
export interface PluginNetConf {
  readonly cniVersion: string;
  readonly name?: string;
  readonly type?: string;
  /** The agent's socket (host path). */
  readonly agentSocket?: string;
  /** How long to wait for the agent's answer. */
  readonly timeoutSeconds?: number;
  readonly prevResult?: Record<string, unknown>;
}

/** The agent could not be reached: no socket, nobody listening, or the connection broke before an answer. */
export class AgentUnreachableError extends Error {
  override name = 'AgentUnreachableError';
}

export type AgentCall = (socketPath: string, request: PluginRequest, timeoutMs: number) => Promise<AgentResponse>;

export interface PluginOutput {
  readonly stdout: string;
  /** One line for the runtime's log (DEL problems that do not fail the DEL). */
  readonly stderr: string;
  readonly exitCode: number;
}

const LATEST = SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1] as string;
const DEFAULT_TIMEOUT_SECONDS = 30;

class PluginError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
  }
}

function ok(stdout = '', stderr = ''): PluginOutput {
  return { stdout, stderr, exitCode: 0 };
}

function failure(cniVersion: string, err: PluginError): PluginOutput {
  const body: CniError = { cniVersion, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) };
  return { stdout: `${JSON.stringify(body)}\n`, stderr: '', exitCode: 1 };
}

/** CNI_ARGS (`K=V;K=V`) as a map; malformed pairs are ignored, as the runtime's own plugins would reject them. */
export function parseCniArgs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of args.split(';')) {
    const i = pair.indexOf('=');
    if (i > 0) out.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return out;
}

/** The pod from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID), as the kubelet's runtime passes them. */
export function podFromArgs(args: string): PodRef | undefined {
  const m = parseCniArgs(args);
  const namespace = m.get('K8S_POD_NAMESPACE');
  const name = m.get('K8S_POD_NAME');
  if (!namespace || !name) return undefined;
  const uid = m.get('K8S_POD_UID');
  return uid ? { namespace, name, uid } : { namespace, name };
}

/** The addresses in a prevResult: `ips[].address` (0.3.0+). */
export function resultAddresses(prevResult: Record<string, unknown> | undefined): string[] {
  const ips = prevResult?.ips;
  if (!Array.isArray(ips)) return [];
  return ips.map((ip) => (ip as { address?: unknown } | null)?.address).filter((a): a is string => typeof a === 'string');
}

function parseNetConf(stdin: string): PluginNetConf {
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch (err) {
    throw new PluginError(CNI_ERROR.decodeFailed, 'mizzen-cni could not decode its network configuration', (err as Error).message);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PluginError(CNI_ERROR.decodeFailed, 'mizzen-cni: the network configuration is not a JSON object');
  const conf = doc as Record<string, unknown>;
  if (conf.prevResult !== undefined && (typeof conf.prevResult !== 'object' || conf.prevResult === null)) {
    throw new PluginError(CNI_ERROR.invalidConfig, 'mizzen-cni: prevResult must be an object');
  }
  if (conf.agentSocket !== undefined && typeof conf.agentSocket !== 'string') throw new PluginError(CNI_ERROR.invalidConfig, 'mizzen-cni: agentSocket must be a string');
  if (conf.timeoutSeconds !== undefined && (typeof conf.timeoutSeconds !== 'number' || !(conf.timeoutSeconds > 0))) {
    throw new PluginError(CNI_ERROR.invalidConfig, 'mizzen-cni: timeoutSeconds must be a positive number');
  }
  return conf as unknown as PluginNetConf;
}

function requireEnv(env: CniEnv, keys: readonly (keyof CniEnv)[]): void {
  const names: Record<keyof CniEnv, string> = { command: 'CNI_COMMAND', containerId: 'CNI_CONTAINERID', netns: 'CNI_NETNS', ifName: 'CNI_IFNAME', args: 'CNI_ARGS', path: 'CNI_PATH' };
  const missing = keys.filter((k) => env[k] === '').map((k) => names[k]);
  if (missing.length > 0) throw new PluginError(CNI_ERROR.invalidEnv, `mizzen-cni: ${missing.join(', ')} must be set`);
}

function versionOutput(stdin: string): PluginOutput {
  let requested: unknown;
  try {
    requested = (JSON.parse(stdin || '{}') as { cniVersion?: unknown }).cniVersion;
  } catch {
    requested = undefined;
  }
  const cniVersion = isSupportedVersion(requested) ? requested : LATEST;
  return ok(`${JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS })}\n`);
}

interface Context {
  readonly conf: PluginNetConf;
  readonly env: CniEnv;
  readonly call: AgentCall;
  readonly socket: string;
}

function request(ctx: Context, command: PluginCommand, pod: PodRef | undefined): PluginRequest {
  const { conf, env } = ctx;
  return { command, cniVersion: conf.cniVersion, containerId: env.containerId, netns: env.netns, ifName: env.ifName, ...(pod ? { pod } : {}), ips: resultAddresses(conf.prevResult) };
}

async function ask(ctx: Context, req: PluginRequest): Promise<AgentResponse> {
  try {
    return await ctx.call(ctx.socket, req, (ctx.conf.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  } catch (err) {
    if (err instanceof AgentUnreachableError) {
      const verb = req.command === 'STATUS' ? 'is not available' : 'cannot program pod traffic redirection';
      throw new PluginError(
        req.command === 'STATUS' ? CNI_ERROR.pluginNotAvailable : CNI_ERROR.tryAgainLater,
        `mizzen-cni ${verb}: the mizzen node agent is unreachable at ${ctx.socket} (${err.message}); is the istio-cni-node pod running and ready on this node?`,
      );
    }
    throw err;
  }
}

function agentFailure(res: AgentResponse): void {
  if (!res.ok) throw new PluginError(res.code, res.msg, res.details);
}

/** ADD: the agent decides and programs; the plugin prints prevResult unchanged. */
async function add(ctx: Context): Promise<PluginOutput> {
  requireEnv(ctx.env, ['containerId', 'netns', 'ifName']);
  const prev = ctx.conf.prevResult;
  if (prev === undefined) {
    throw new PluginError(CNI_ERROR.invalidConfig, 'mizzen-cni must run chained after the primary CNI plugin: its configuration has no prevResult');
  }
  const out = `${JSON.stringify(prev.cniVersion === undefined ? { cniVersion: ctx.conf.cniVersion, ...prev } : prev)}\n`;
  const pod = podFromArgs(ctx.env.args);
  if (pod === undefined) return ok(out); // not a Kubernetes pod: nothing to redirect
  agentFailure(await ask(ctx, request(ctx, 'ADD', pod)));
  return ok(out);
}

/** CHECK (0.4.0+): the agent compares the pod's live rules with the desired ones and restores them. */
async function check(ctx: Context): Promise<PluginOutput> {
  if (compareVersions(ctx.conf.cniVersion, '0.4.0') < 0) {
    throw new PluginError(CNI_ERROR.incompatibleVersion, `mizzen-cni: CHECK is not defined for cniVersion ${ctx.conf.cniVersion} (0.4.0 or later)`);
  }
  requireEnv(ctx.env, ['containerId', 'netns', 'ifName']);
  if (ctx.conf.prevResult === undefined) throw new PluginError(CNI_ERROR.invalidConfig, 'mizzen-cni: CHECK needs prevResult');
  const pod = podFromArgs(ctx.env.args);
  if (pod === undefined) return ok();
  agentFailure(await ask(ctx, request(ctx, 'CHECK', pod)));
  return ok();
}

/**
 * DEL: the agent removes the rules from a netns that still exists. DEL never fails for an unreachable agent or a
 * failed cleanup: the netns is being torn down with its rules, and a failing DEL would keep the pod from being
 * deleted. The problem goes to stderr for the runtime's log.
 */
async function del(ctx: Context): Promise<PluginOutput> {
  const pod = podFromArgs(ctx.env.args);
  if (ctx.env.netns === '' || ctx.env.containerId === '') return ok();
  try {
    const res = await ask(ctx, request(ctx, 'DEL', pod));
    return res.ok ? ok() : ok('', `mizzen-cni: DEL left rules in ${ctx.env.netns}: ${res.msg}\n`);
  } catch (err) {
    return ok('', `mizzen-cni: DEL did not clean ${ctx.env.netns}: ${(err as Error).message}\n`);
  }
}

async function status(ctx: Context): Promise<PluginOutput> {
  if (compareVersions(ctx.conf.cniVersion, '1.1.0') < 0) {
    throw new PluginError(CNI_ERROR.incompatibleVersion, `mizzen-cni: STATUS is not defined for cniVersion ${ctx.conf.cniVersion} (1.1.0 or later)`);
  }
  agentFailure(await ask(ctx, request(ctx, 'STATUS', undefined)));
  return ok();
}

async function dispatch(command: string, ctx: Context): Promise<PluginOutput> {
  switch (command) {
    case 'ADD':
      return add(ctx);
    case 'CHECK':
      return check(ctx);
    case 'DEL':
      return del(ctx);
    case 'STATUS':
      return status(ctx);
    case 'GC':
      // Nothing to collect: the plugin allocates nothing, and the rules live and die with each netns.
      if (compareVersions(ctx.conf.cniVersion, '1.1.0') < 0) throw new PluginError(CNI_ERROR.incompatibleVersion, `mizzen-cni: GC is not defined for cniVersion ${ctx.conf.cniVersion}`);
      return ok();
    default:
      throw new PluginError(CNI_ERROR.invalidEnv, `mizzen-cni: unknown CNI_COMMAND ${JSON.stringify(command)} (VERSION, ADD, CHECK, DEL, STATUS, GC)`);
  }
}

/** Runs one plugin invocation. Never throws: every failure is a CNI error object on stdout. */
export async function runPlugin(env: CniEnv, stdin: string, call: AgentCall): Promise<PluginOutput> {
  if (env.command === 'VERSION') return versionOutput(stdin);
  let cniVersion = LATEST;
  try {
    const conf = parseNetConf(stdin);
    if (typeof conf.cniVersion === 'string' && conf.cniVersion !== '') cniVersion = conf.cniVersion;
    if (!isSupportedVersion(conf.cniVersion)) {
      throw new PluginError(CNI_ERROR.incompatibleVersion, `mizzen-cni does not support cniVersion ${JSON.stringify(conf.cniVersion)}; it supports ${SUPPORTED_VERSIONS.join(', ')}`);
    }
    return await dispatch(env.command, { conf, env, call, socket: conf.agentSocket ?? DEFAULT_SOCKET_PATH });
  } catch (err) {
    if (err instanceof PluginError) return failure(cniVersion, err);
    return failure(cniVersion, new PluginError(CNI_ERROR.redirectFailed, `mizzen-cni failed: ${(err as Error).message}`));
  }
}
