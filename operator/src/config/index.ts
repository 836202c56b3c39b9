import os from 'node:os';
import { randomBytes } from 'node:crypto';

/**
 * Typed configuration of `mizzen operator`. Flags win over environment variables; this module is the only
 * reader of process.env.
 */
export interface OperatorConfig {
  kubeconfig?: string;
  /** Namespace of the operator itself: its Lease, peer Secrets. */
  namespace: string;
  probeHost: string;
  probePort: number;
  leaderElect: boolean;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  identity: string;
  logLevel: string;
  logFormat: 'json' | 'text';
  informerIdleReconnectMs: number;
  /** Which controllers to run (all by default). */
  controllers: string[];
  /** This cluster's id in the ClusterSet (MCS); else the ClusterProperty cluster.clusterset.k8s.io's. */
  clusterId?: string;
  /** The ClusterSet's id; written to the ClusterProperty clusterset.k8s.io when that is missing. */
  clusterSetId?: string;
  /** How often the MCS controller probes each peer cluster's /readyz. */
  peerProbeIntervalMs: number;
  /** Client-side limit of API requests per client: sustained per second and burst (0 qps: no limit). */
  apiQps: number;
  apiBurst: number;
  /** Workers of the serviceexport controller (services reconciled at once). */
  mcsWorkers: number;
  /**
   * Of those, the most that may work on services queued without priority (new or changed exports) at once; the
   * others stay free for endpoint changes (ADR 0006 "Workers").
   */
  mcsBulkWorkers: number;
}

export interface OperatorFlags {
  kubeconfig?: string;
  namespace?: string;
  probeAddr?: string;
  leaderElect?: boolean;
  leaseName?: string;
  leaseDuration?: string;
  identity?: string;
  logLevel?: string;
  logFormat?: string;
  controllers?: string;
  clusterId?: string;
  clustersetId?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Services the serviceexport controller reconciles at once (ADR 0006 "Workers"). */
export const DEFAULT_MCS_WORKERS = 32;

/** Services queued without priority reconciled at once at most (ADR 0006 "Workers"). */
export const DEFAULT_MCS_BULK_WORKERS = 2;

export const allControllers = ['istiooperator', 'revisiontag', 'serviceexport'];

/** host:port of a probe server; an empty host listens on every address. Shared by the operator and the agent. */
export function parseProbeAddr(addr: string, flag = '--probe-addr'): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const portText = addr.slice(i + 1);
  const port = Number(portText);
  if (i < 0 || portText === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${flag} must be host:port with a port 0-65535, got "${addr}"`);
  return { host: addr.slice(0, i) || '0.0.0.0', port };
}

/** Accepted log levels ("none" logs errors only, as Istio's CNI logLevel does). */
export const LOG_LEVELS: Readonly<Record<string, string>> = { debug: 'debug', info: 'info', warn: 'warn', error: 'error', none: 'error' };

/** A log level, refused unless known: a typo must not silence the log. */
export function parseLogLevel(text: string, flag = '--log-level'): string {
  const level = Object.hasOwn(LOG_LEVELS, text) ? LOG_LEVELS[text] : undefined;
  if (level === undefined) throw new ConfigError(`${flag} must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got "${text}"`);
  return level;
}

export function parseLogFormat(text: string, flag = '--log-format'): 'json' | 'text' {
  if (text !== 'json' && text !== 'text') throw new ConfigError(`${flag} must be json or text, got "${text}"`);
  return text;
}

/** Parses a duration like 15s, 500ms, 2m. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text.trim());
  if (!m) throw new ConfigError(`${flag} must be a duration such as 15s or 500ms, got "${text}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function parseCount(text: string, name: string): number {
  const n = Number(text.trim());
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${name} must be a whole number of 0 or more, got "${text}"`);
  return n;
}

function envBool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  return v === 'true' || v === '1';
}

export function loadOperatorConfig(flags: OperatorFlags, env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  /** The flag, else the first environment variable set, else the default. */
  const pick = (flag: string | undefined, vars: string[], fallback: string): string => {
    if (flag !== undefined) return flag;
    for (const v of vars) if (env[v]) return env[v];
    return fallback;
  };
  const probe = parseProbeAddr(pick(flags.probeAddr, ['MIZZEN_PROBE_ADDR'], ':8081'));
  const leaseDurationMs = parseDuration(pick(flags.leaseDuration, ['MIZZEN_LEASE_DURATION'], '15s'), '--lease-duration');
  const logFormat = parseLogFormat(pick(flags.logFormat, ['MIZZEN_LOG_FORMAT'], process.stderr.isTTY ? 'text' : 'json'));
  const logLevel = parseLogLevel(pick(flags.logLevel, ['MIZZEN_LOG_LEVEL'], 'info'));
  const controllers = pick(flags.controllers, ['MIZZEN_CONTROLLERS'], allControllers.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of controllers) if (!allControllers.includes(c)) throw new ConfigError(`--controllers: unknown controller "${c}" (known: ${allControllers.join(', ')})`);
  // KUBECONFIG (a list, as kubectl reads it) is resolved by loadKubeConfig, not taken as a file name here.
  const kubeconfig = flags.kubeconfig ?? '';
  const clusterId = pick(flags.clusterId, ['MIZZEN_CLUSTER_ID'], '');
  if (clusterId && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(clusterId)) throw new ConfigError(`--cluster-id must be a DNS label (lower-case letters, digits and "-", at most 63), got "${clusterId}"`);
  const clusterSetId = pick(flags.clustersetId, ['MIZZEN_CLUSTERSET_ID'], '');
  return {
    kubeconfig: kubeconfig || undefined,
    namespace: pick(flags.namespace, ['MIZZEN_NAMESPACE', 'POD_NAMESPACE'], 'mizzen-system'),
    probeHost: probe.host,
    probePort: probe.port,
    leaderElect: flags.leaderElect ?? envBool(env.MIZZEN_LEADER_ELECT) ?? true,
    leaseName: pick(flags.leaseName, ['MIZZEN_LEASE_NAME'], 'mizzen-operator'),
    leaseDurationMs,
    renewDeadlineMs: Math.round(leaseDurationMs * (2 / 3)),
    retryPeriodMs: Math.max(200, Math.round(leaseDurationMs / 7.5)),
    identity: pick(flags.identity, ['POD_NAME'], `${os.hostname()}_${process.pid}_${randomBytes(3).toString('hex')}`),
    logLevel,
    logFormat,
    informerIdleReconnectMs: parseDuration(pick(undefined, ['MIZZEN_WATCH_IDLE_RECONNECT'], '5m'), 'MIZZEN_WATCH_IDLE_RECONNECT'),
    controllers,
    ...(clusterId ? { clusterId } : {}),
    ...(clusterSetId ? { clusterSetId } : {}),
    peerProbeIntervalMs: parseDuration(pick(undefined, ['MIZZEN_PEER_PROBE_INTERVAL'], '2s'), 'MIZZEN_PEER_PROBE_INTERVAL'),
    apiQps: parseCount(pick(undefined, ['MIZZEN_KUBE_API_QPS'], '200'), 'MIZZEN_KUBE_API_QPS'),
    apiBurst: parseCount(pick(undefined, ['MIZZEN_KUBE_API_BURST'], '400'), 'MIZZEN_KUBE_API_BURST'),
    mcsWorkers: Math.max(1, parseCount(pick(undefined, ['MIZZEN_MCS_WORKERS'], String(DEFAULT_MCS_WORKERS)), 'MIZZEN_MCS_WORKERS')),
    mcsBulkWorkers: Math.max(1, parseCount(pick(undefined, ['MIZZEN_MCS_BULK_WORKERS'], String(DEFAULT_MCS_BULK_WORKERS)), 'MIZZEN_MCS_BULK_WORKERS')),
  };
}

/** The environment, for commands that take istio-style environment knobs (e.g. `mizzen iptables`). */
export function environment(): Record<string, string | undefined> {
  return { ...process.env };
}
