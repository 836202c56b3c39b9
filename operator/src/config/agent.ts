// Typed configuration of `mizzen agent` (the istio-cni-node DaemonSet's container): flags, the environment the
// DaemonSet sets (NODE_NAME, POD_NAME, POD_NAMESPACE) and the istio-cni-config ConfigMap mounted as one file per
// key in --config-dir (the renderer's cniConfigToData, read back with cniConfigFromData).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CniConfig, cniConfigFromData } from '../render/cniconfig.js';
import { InvalidSpecError } from '../render/errors.js';
import { ConfigError, parseDuration, parseLogFormat, parseLogLevel, parseProbeAddr } from './index.js';

export interface AgentConfig {
  kubeconfig?: string;
  nodeName: string;
  /** The agent's own pod (Event source instance); optional outside a cluster. */
  podName?: string;
  podNamespace?: string;
  /** values.cni.* as the ConfigMap holds them (defaults when no --config-dir). */
  cni: CniConfig;
  /** Where the agent writes the plugin and the conflist (container paths of the host's cniBinDir, cniConfDir). */
  cniBinDir: string;
  cniConfDir: string;
  /** Where the agent sees the host's /var/run/netns. */
  netnsDir: string;
  /** Directory of the plugin socket; mounted at the same path as on the host, so the conflist names it. */
  socketDir: string;
  /** libcni's cache (host /var/lib/cni): which netns belongs to which pod, for pods set up before us. */
  cniCacheDir: string;
  /** The built plugin executable that install-cni copies. */
  pluginPath: string;
  probeHost: string;
  probePort: number;
  logLevel: string;
  logFormat: 'json' | 'text';
  /** How often every pod's rules are compared with the desired ones (and repair re-evaluated). */
  driftIntervalMs: number;
  /** The periodic check of the CNI configuration behind fs.watch. */
  installCheckIntervalMs: number;
  /** How long ADD waits for a pod that is not in the cache yet. */
  podWaitMs: number;
  informerIdleReconnectMs: number;
  /** Leave the plugin in place when stopping while the DaemonSet stays (MIZZEN_SAFE_RESTART, default true). */
  safeRestart: boolean;
  /**
   * Let the plugin apply a fresh pod's rules as an nf_tables netlink batch the agent encodes, with the iptables-nft
   * backend (MIZZEN_CNI_NETLINK, default true); false: iptables-restore, as before issue 15.
   */
  netlink: boolean;
}

export interface AgentFlags {
  kubeconfig?: string;
  nodeName?: string;
  configDir?: string;
  cniBinDir?: string;
  cniConfDir?: string;
  netnsDir?: string;
  socketDir?: string;
  cniCacheDir?: string;
  pluginPath?: string;
  probeAddr?: string;
  logLevel?: string;
  logFormat?: string;
  driftInterval?: string;
  installCheckInterval?: string;
  podWait?: string;
}

/** dist/mizzen-cni of this checkout (the image keeps the same layout). */
export function defaultPluginPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/mizzen-cni');
}

/** A mounted ConfigMap: one file per key; Kubernetes' `..data` links and other dotfiles are skipped. */
export function readConfigDir(dir: string): Record<string, string> {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new ConfigError(`--config-dir ${dir} cannot be read: ${(err as Error).message}`);
  }
  const data: Record<string, string> = {};
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const file = path.join(dir, name);
    if (fs.statSync(file).isFile()) data[name] = fs.readFileSync(file, 'utf8');
  }
  return data;
}

function cniSettings(configDir: string | undefined): CniConfig {
  try {
    return cniConfigFromData(configDir ? readConfigDir(configDir) : {});
  } catch (err) {
    if (err instanceof InvalidSpecError) throw new ConfigError(`--config-dir: ${err.message}`);
    throw err;
  }
}

function durations(flags: AgentFlags): Pick<AgentConfig, 'driftIntervalMs' | 'installCheckIntervalMs' | 'podWaitMs'> {
  return {
    driftIntervalMs: parseDuration(flags.driftInterval ?? '30s', '--drift-interval'),
    installCheckIntervalMs: parseDuration(flags.installCheckInterval ?? '1s', '--install-check-interval'),
    podWaitMs: parseDuration(flags.podWait ?? '5s', '--pod-wait'),
  };
}

function paths(flags: AgentFlags, cni: CniConfig): Pick<AgentConfig, 'cniBinDir' | 'cniConfDir' | 'netnsDir' | 'socketDir' | 'cniCacheDir'> {
  return {
    cniBinDir: path.resolve(flags.cniBinDir ?? cni.cniBinDir),
    cniConfDir: path.resolve(flags.cniConfDir ?? cni.cniConfDir),
    netnsDir: path.resolve(flags.netnsDir ?? '/var/run/netns'),
    socketDir: path.resolve(flags.socketDir ?? '/var/run/mizzen'),
    cniCacheDir: path.resolve(flags.cniCacheDir ?? '/var/lib/cni'),
  };
}

export function loadAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const pick = (flag: string | undefined, vars: string[], fallback: string): string => {
    if (flag !== undefined) return flag;
    for (const v of vars) if (env[v]) return env[v];
    return fallback;
  };
  const nodeName = pick(flags.nodeName, ['NODE_NAME'], '');
  if (nodeName === '') throw new ConfigError('--node-name (or NODE_NAME) is required: the agent serves the pods of one node');
  const cni = cniSettings(flags.configDir);
  const probe = parseProbeAddr(pick(flags.probeAddr, ['MIZZEN_PROBE_ADDR'], ':8000'));
  const logLevel = parseLogLevel(pick(flags.logLevel, ['MIZZEN_LOG_LEVEL'], cni.logLevel));
  const logFormat = parseLogFormat(pick(flags.logFormat, ['MIZZEN_LOG_FORMAT'], process.stderr.isTTY ? 'text' : 'json'));
  // KUBECONFIG (a list, as kubectl reads it) is resolved by loadKubeConfig.
  const kubeconfig = flags.kubeconfig ?? '';
  const podName = env.POD_NAME;
  const podNamespace = env.POD_NAMESPACE;
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    nodeName,
    ...(podName ? { podName } : {}),
    ...(podNamespace ? { podNamespace } : {}),
    cni,
    ...paths(flags, cni),
    pluginPath: path.resolve(pick(flags.pluginPath, ['MIZZEN_CNI_PLUGIN'], defaultPluginPath())),
    probeHost: probe.host,
    probePort: probe.port,
    logLevel,
    logFormat,
    ...durations(flags),
    informerIdleReconnectMs: parseDuration(pick(undefined, ['MIZZEN_WATCH_IDLE_RECONNECT'], '5m'), 'MIZZEN_WATCH_IDLE_RECONNECT'),
    safeRestart: parseBoolean(pick(undefined, ['MIZZEN_SAFE_RESTART'], 'true'), 'MIZZEN_SAFE_RESTART'),
    netlink: parseBoolean(pick(undefined, ['MIZZEN_CNI_NETLINK'], 'true'), 'MIZZEN_CNI_NETLINK'),
  };
}

function parseBoolean(value: string, name: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(`${name} must be true or false, not ${JSON.stringify(value.slice(0, 64))}`);
}
