// What the mizzen-cni plugin and the node agent say to each other over the agent's unix socket, and the CNI
// constants both sides need. Pure and dependency-free: the plugin bundles this file, so keep it small.
//
// One connection carries one exchange: the plugin writes one JSON request and a newline, the agent answers with
// one JSON response and a newline, then closes.

/** The plugin's `type` in a conflist; install-cni finds (and removes) exactly the entries of this type. */
export const PLUGIN_TYPE = 'mizzen-cni';

/** The socket file inside the agent's socket directory. */
export const SOCKET_NAME = 'cni.sock';

/** Where the socket is when the conflist entry does not say (CNI_HOST_PATHS.socketDir + SOCKET_NAME). */
export const DEFAULT_SOCKET_PATH = '/var/run/mizzen/cni.sock';

/** CNI spec versions the plugin speaks, oldest first. */
export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** Error codes: 1-99 are the CNI spec's, 100+ are mizzen's. */
export const CNI_ERROR = {
  incompatibleVersion: 1,
  invalidEnv: 4,
  decodeFailed: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  /** A pod annotation holds an invalid value: the pod is not started half-programmed. */
  invalidAnnotation: 100,
  /** Programming the pod's network namespace failed. */
  redirectFailed: 101,
} as const;

export type PluginCommand = 'ADD' | 'CHECK' | 'DEL' | 'STATUS';

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  /** K8S_POD_UID when the runtime passes it (containerd and CRI-O do). */
  readonly uid?: string;
}

export interface PluginRequest {
  readonly command: PluginCommand;
  readonly cniVersion: string;
  readonly containerId: string;
  /** CNI_NETNS as the runtime passed it (a host path). */
  readonly netns: string;
  readonly ifName: string;
  readonly pod?: PodRef;
  /** The pod's addresses from prevResult (CIDR notation), which tell whether it has IPv6. */
  readonly ips: readonly string[];
}

export interface AgentSuccess {
  readonly ok: true;
  /** Whether the pod has (or, for DEL, had) sidecar redirection. */
  readonly redirected: boolean;
  /** The decision's reason, e.g. `sidecar`, `no-sidecar`, `excluded-namespace`. */
  readonly reason: string;
  readonly message: string;
  /** Processes the agent spawned for this request. */
  readonly spawns: number;
}

export interface AgentFailure {
  readonly ok: false;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

export type AgentResponse = AgentSuccess | AgentFailure;

/** The CNI error object a plugin prints on stdout. */
export interface CniError {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/** Compares dotted versions numerically: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function isSupportedVersion(v: unknown): v is string {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Checks that a parsed line is a request; returns a reason when it is not. */
export function requestProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (!['ADD', 'CHECK', 'DEL', 'STATUS'].includes(String(r.command))) return `unknown command ${JSON.stringify(r.command)}`;
  for (const k of ['cniVersion', 'containerId', 'netns', 'ifName']) if (typeof r[k] !== 'string') return `${k} must be a string`;
  if (!Array.isArray(r.ips) || !r.ips.every((ip) => typeof ip === 'string')) return 'ips must be a list of strings';
  if (r.pod !== undefined) {
    const p = r.pod as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || typeof p.namespace !== 'string' || typeof p.name !== 'string') return 'pod must have a namespace and a name';
  }
  return undefined;
}
