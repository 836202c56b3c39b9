// What the mizzen-cni plugin (Go, cni/) and the node agent say to each other over the agent's unix socket, and
// the CNI constants both sides need. Pure. cni/protocol.go is the plugin's side of the same messages.
//
// One connection carries one exchange, every message one JSON object on one line:
//   plugin → agent  PluginRequest
//   agent  → plugin AgentProgram ({"run": [steps]}): the plugin runs the steps in the pod's netns, in order,
//                   stopping after the first failure, and answers PluginReport ({"results": [...]}); repeated
//                   as the agent needs (a fresh netns: one program; a known one: a save, then a restore if needed)
//   agent  → plugin AgentResponse ({"ok": ...}), the last message; the agent closes.
// The agent decides, what to run too; the plugin only executes (ADR 0005).
import type { ProgramStep, StepResult } from '../iptables/restore.js';

export type { ProgramStep, StepResult };

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
  /** The network's name from the conflist (with containerId and ifName: libcni's cache key). */
  readonly network?: string;
  /** The plugin runs the agent's programs in the pod's netns; without it the agent runs them itself (nsenter). */
  readonly exec?: boolean;
  /** The plugin applies nf_tables netlink batches (a ProgramStep with `netlink`); older plugins do not say so. */
  readonly netlink?: boolean;
}

/** A program for the plugin to run in the pod's netns; for ADD it also carries the decision. */
export interface AgentProgram {
  readonly run: readonly ProgramStep[];
  readonly decision?: { readonly redirected: boolean; readonly reason: string; readonly message: string };
}

/** The plugin's answer to a program: one result per step run, in order, stopping after the first failure. */
export interface PluginReport {
  readonly results: readonly StepResult[];
}

export interface AgentSuccess {
  readonly ok: true;
  /** Whether the pod has (or, for DEL, had) sidecar redirection. */
  readonly redirected: boolean;
  /** The decision's reason, e.g. `sidecar`, `no-sidecar`, `excluded-namespace`. */
  readonly reason: string;
  readonly message: string;
  /** Processes run for this request in the pod's netns (by the plugin, or by the agent for a plugin without exec). */
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

function optionalProblem(r: Record<string, unknown>): string | undefined {
  if (r.network !== undefined && typeof r.network !== 'string') return 'network must be a string';
  if (r.exec !== undefined && typeof r.exec !== 'boolean') return 'exec must be a boolean';
  if (r.netlink !== undefined && typeof r.netlink !== 'boolean') return 'netlink must be a boolean';
  return undefined;
}

/** Checks that a parsed line is a request; returns a reason when it is not. */
export function requestProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (!['ADD', 'CHECK', 'DEL', 'STATUS'].includes(String(r.command))) return `unknown command ${JSON.stringify(r.command)}`;
  for (const k of ['cniVersion', 'containerId', 'netns', 'ifName']) if (typeof r[k] !== 'string') return `${k} must be a string`;
  if (!Array.isArray(r.ips) || !r.ips.every((ip) => typeof ip === 'string')) return 'ips must be a list of strings';
  const optional = optionalProblem(r);
  if (optional !== undefined) return optional;
  if (r.pod !== undefined) {
    const p = r.pod as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || typeof p.namespace !== 'string' || typeof p.name !== 'string') return 'pod must have a namespace and a name';
  }
  return undefined;
}

/** Checks that a parsed line is a report with at most `steps` results; returns a reason when it is not. */
export function reportProblem(value: unknown, steps: number): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const results = (value as Record<string, unknown>).results;
  if (!Array.isArray(results)) return 'results must be a list';
  if (results.length > steps) return `${results.length} results for ${steps} steps`;
  for (const r of results as unknown[]) {
    const x = r as Record<string, unknown> | null;
    if (typeof x !== 'object' || x === null || typeof x.code !== 'number' || typeof x.stdout !== 'string' || typeof x.stderr !== 'string') return 'a result needs code, stdout and stderr';
  }
  return undefined;
}
