// The agent's side of a plugin request: find the pod in the node's cache, decide, and program (ADD), verify and
// restore (CHECK) or clean (DEL) its network namespace with the iptables engine. One netns at a time.
//
// The agent decides and computes every program; the plugin runs them in the pod's netns (PluginPeer), so no
// request forks a process in the agent. A fresh netns (a container this agent has not seen, with no libcni
// cache entry) is given the whole rule set in one program without reading it first; a known one (a repeated
// ADD, CHECK, DEL) is read first (iptables-save through the plugin) and given only what differs.
import fs from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import {
  type CommandResult,
  type CommandRunner,
  type ExecOptions,
  type Family,
  type IptablesConfig,
  type IptablesExecutor,
  type ProgramStep,
  type RuleSet,
  type StepResult,
  AnnotationError,
  Executor,
  IptablesCommandError,
  buildRuleSet,
  commandFamily,
  configFromPod,
  diff,
  encodeRestore,
  freshNftProgram,
  freshProgram,
  NftBackedExecutor,
  ownsChain,
  restoreStep,
} from '../iptables/index.js';
import type { EventSink } from '../kube/events.js';
import type { Logger } from '../util/log.js';
import { type DecideSettings, type Decision, decide, podTraffic } from './decide.js';
import type { KeyedLock } from './lock.js';
import type { AgentMetrics } from './metrics.js';
import type { NetnsIndex } from './netns.js';
import type { PodSource } from './pods.js';
import { type AgentResponse, type PluginRequest, type PodRef, CNI_ERROR } from './protocol.js';
import type { PluginPeer } from './socket.js';

export const EVENT_REASON = {
  invalidAnnotation: 'InvalidTrafficAnnotation',
  redirectFailed: 'TrafficRedirectFailed',
  restored: 'TrafficRedirectRestored',
  repaired: 'TrafficRedirectRepaired',
  labelled: 'UninitializedPodLabelled',
  deleted: 'UninitializedPodDeleted',
} as const;

export type Desired =
  | { readonly decision: Decision; readonly ruleSet?: RuleSet; readonly config?: IptablesConfig }
  | { readonly decision: Decision; readonly error: AnnotationError };

/** The pod's desired redirection: skip, a rule set, or the invalid annotation that prevents one. */
export function desiredFor(pod: V1Pod, ips: readonly string[], settings: DecideSettings): Desired {
  const decision = decide(pod, settings);
  if (!decision.redirect) return { decision };
  try {
    const config = configFromPod(podTraffic(pod, ips));
    return { decision, ruleSet: buildRuleSet(config), config };
  } catch (err) {
    if (err instanceof AnnotationError) return { decision, error: err };
    throw err;
  }
}

export interface LiveState {
  readonly inSync: boolean;
  /** Any ISTIO_* chain exists (someone programmed this netns before). */
  readonly hasOurs: boolean;
  readonly spawns: number;
}

/** Reads the netns's rules once per family and compares them with the rule set. */
export async function inspect(executor: IptablesExecutor, ruleSet: RuleSet, opts: ExecOptions): Promise<LiveState> {
  if (executor.inspect !== undefined) return executor.inspect(ruleSet, opts);
  let inSync = true;
  let hasOurs = false;
  for (const f of ruleSet.families) {
    const live = await executor.save(f.family, opts);
    inSync &&= diff(ruleSet, f.family, live).inSync;
    hasOurs ||= live.tables.some((t) => t.chains.some((c) => ownsChain(c.name)));
  }
  return { inSync, hasOurs, spawns: ruleSet.families.length };
}

export interface HandlerDeps {
  readonly nodeName: string;
  readonly pods: PodSource;
  readonly executor: IptablesExecutor;
  readonly events: EventSink;
  readonly index: NetnsIndex;
  readonly locks: KeyedLock;
  readonly settings: DecideSettings;
  readonly log: Logger;
  /** How long ADD waits for a pod the cache does not have yet. */
  readonly podWaitMs: number;
  readonly metrics?: AgentMetrics;
  /** false: never have the plugin apply nf_tables batches, always run iptables-restore (MIZZEN_CNI_NETLINK=0). */
  readonly netlink?: boolean;
  /** Explains why a pod is missing from the cache (e.g. it is bound to another node); optional. */
  readonly explainMissing?: (pod: PodRef) => Promise<string | undefined>;
}

/** Runs each command through the plugin, in the pod's netns: one program of one step per command. */
export class PeerRunner implements CommandRunner {
  constructor(private readonly peer: PluginPeer) {}

  async run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    const [res] = await this.peer.run([{ family: commandFamily(cmd, args), tool: cmd, args, ...(input === undefined ? {} : { stdin: input }) }]);
    if (res === undefined) throw new Error('the plugin ran nothing');
    return res;
  }
}

const stepLine = (s: ProgramStep): string => [s.tool, ...s.args].join(' ');

/** Processes a program starts: every step but a netlink batch, which the plugin sends itself. */
const spawnsOf = (steps: readonly ProgramStep[]): number => steps.filter((s) => s.netlink === undefined).length;

const fail = (code: number, msg: string, details?: string): AgentResponse => ({ ok: false, code, msg, ...(details ? { details } : {}) });

export class PluginHandler {
  constructor(private readonly d: HandlerDeps) {}

  async handle(req: PluginRequest, peer?: PluginPeer): Promise<AgentResponse> {
    const end = this.d.metrics?.requestDuration.startTimer({ command: req.command });
    let programMs = 0;
    const timed: PluginPeer | undefined = peer && {
      run: async (steps, decision) => {
        const t0 = performance.now();
        try {
          return await peer.run(steps, decision);
        } finally {
          programMs += performance.now() - t0;
        }
      },
    };
    const res = await this.dispatch(req, timed);
    end?.();
    this.d.metrics?.programSeconds.inc({ command: req.command }, programMs / 1000);
    this.d.metrics?.requests.inc({ command: req.command, result: res.ok ? 'ok' : `error-${res.code}` });
    if (res.ok) this.d.metrics?.spawns.inc({ cause: req.command.toLowerCase(), by: peer ? 'plugin' : 'agent' }, res.spawns);
    const fields = { command: req.command, pod: req.pod ? `${req.pod.namespace}/${req.pod.name}` : '', netns: req.netns };
    if (res.ok) this.d.log.debug('Answered plugin request', { ...fields, redirected: res.redirected, reason: res.reason, spawns: res.spawns });
    else this.d.log.warn('Refused plugin request', { ...fields, code: res.code, error: res.msg });
    return res;
  }

  private dispatch(req: PluginRequest, peer: PluginPeer | undefined): Promise<AgentResponse> {
    switch (req.command) {
      case 'ADD':
        return this.add(req, peer);
      case 'CHECK':
        return this.check(req, peer);
      case 'DEL':
        return this.del(req, peer);
      case 'STATUS':
        return Promise.resolve({ ok: true, redirected: false, reason: 'ready', message: `the mizzen agent of node ${this.d.nodeName} is ready`, spawns: 0 });
    }
  }

  private async findPod(ref: PodRef, waitMs: number): Promise<{ pod: V1Pod } | AgentResponse> {
    const pod = await this.d.pods.waitFor(ref.namespace, ref.name, ref.uid, waitMs);
    if (pod !== undefined) return { pod };
    const why = (await this.d.explainMissing?.(ref).catch(() => undefined)) ?? `it is not in the agent's cache of node ${this.d.nodeName} after ${waitMs / 1000}s`;
    return fail(CNI_ERROR.tryAgainLater, `mizzen agent cannot decide on pod ${ref.namespace}/${ref.name}${ref.uid ? ` (uid ${ref.uid})` : ''}: ${why}`);
  }

  private invalid(pod: V1Pod, err: AnnotationError): AgentResponse {
    const msg = `pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''} has an invalid annotation ${err.annotation}: ${err.detail}`;
    this.d.events.emit(pod, 'Warning', EVENT_REASON.invalidAnnotation, `Traffic redirection not programmed: annotation ${err.annotation}: ${err.detail}`);
    return fail(CNI_ERROR.invalidAnnotation, msg);
  }

  private commandFailed(pod: V1Pod, err: unknown): AgentResponse {
    if (!(err instanceof IptablesCommandError)) throw err;
    this.d.events.emit(pod, 'Warning', EVENT_REASON.redirectFailed, `Programming traffic redirection failed: ${err.message}`);
    return fail(CNI_ERROR.redirectFailed, `mizzen agent could not program pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}: ${err.message}`);
  }

  /**
   * What ADD and CHECK share: the pod, its decision and desired rules. Returns the response to send instead when
   * there is nothing to program (no pod, invalid annotations, or a pod that gets no redirection).
   */
  private async target(req: PluginRequest, verb: string): Promise<{ ref: PodRef; pod: V1Pod; want: Desired & { ruleSet: RuleSet }; netns: string } | AgentResponse> {
    if (req.pod === undefined) return fail(CNI_ERROR.invalidConfig, `${verb} without a pod`);
    const found = await this.findPod(req.pod, this.d.podWaitMs);
    if (!('pod' in found)) return found;
    const pod = found.pod;
    const want = desiredFor(pod, req.ips, this.d.settings);
    if ('error' in want) return this.invalid(pod, want.error);
    if (want.ruleSet === undefined) return { ok: true, redirected: false, reason: want.decision.reason, message: want.decision.message, spawns: 0 };
    return { ref: req.pod, pod, want: { decision: want.decision, ruleSet: want.ruleSet }, netns: this.d.index.agentPath(req.netns) };
  }

  /**
   * Where a request's commands run: through the plugin in the pod's netns when it can (no process in the
   * agent), else as `nsenter --net=<netns> <command>` by the agent itself.
   */
  private async executorFor(peer: PluginPeer | undefined, netns: string): Promise<{ executor: IptablesExecutor; opts: ExecOptions }> {
    if (peer === undefined) return { executor: this.d.executor, opts: { netnsPath: netns } };
    // values.global.nativeNftables: the same nft executor, its commands run by the plugin.
    if (this.d.executor instanceof NftBackedExecutor) return { executor: new NftBackedExecutor(new PeerRunner(peer)), opts: {} };
    return { executor: new Executor(new PeerRunner(peer), await this.d.executor.detectBackend()), opts: {} };
  }

  /**
   * Has the plugin give a fresh netns the whole rule set in one program. Returns the processes run. When the
   * kernel refuses a netlink batch (it applies all of it or nothing), the rest of the program runs again with
   * iptables-restore in its place, so the error a pod sees, if any, is iptables' own.
   */
  private async applyFresh(peer: PluginPeer, ruleSet: RuleSet, decision: Decision, netlink: boolean): Promise<number> {
    if (this.d.executor instanceof NftBackedExecutor) return this.runFresh(peer, freshNftProgram(ruleSet), decision);
    const backend = await this.d.executor.detectBackend();
    const steps = freshProgram(ruleSet, backend, { netlink: netlink && this.d.netlink !== false });
    const results = await this.runProgram(peer, steps, decision);
    const failed = results.length - 1;
    const step = steps[failed];
    const last = results[failed];
    if (step?.netlink !== undefined && last !== undefined && last.code !== 0) {
      // Code 1: the kernel refused the message whose sequence number is stdout; else the batch was not sent.
      const seq = last.code === 1 ? Number(last.stdout) : undefined;
      const what = seq === undefined ? 'the whole batch' : (encodeRestore(restoreStep(ruleSet, step.family, backend).stdin ?? '', step.family)?.what.get(seq) ?? `message ${seq}`);
      this.d.log.warn('The nf_tables batch was not applied; applying with iptables-restore', { family: step.family, message: what, error: last.stderr });
      this.d.metrics?.netlinkFallbacks.inc();
      const rest = steps.slice(failed).map((s) => (s.netlink === undefined ? s : restoreStep(ruleSet, s.family, backend)));
      return spawnsOf(steps.slice(0, failed)) + (await this.runFresh(peer, rest, decision));
    }
    this.throwOnFailure(steps, results);
    return spawnsOf(steps);
  }

  private async runFresh(peer: PluginPeer, steps: readonly ProgramStep[], decision: Decision): Promise<number> {
    this.throwOnFailure(steps, await this.runProgram(peer, steps, decision));
    return spawnsOf(steps);
  }

  private async runProgram(peer: PluginPeer, steps: readonly ProgramStep[], decision: Decision): Promise<StepResult[]> {
    const first = steps[0];
    if (first === undefined) return [];
    try {
      return await peer.run(steps, { redirected: true, reason: decision.reason, message: decision.message });
    } catch (err) {
      throw new IptablesCommandError(stepLine(first), -1, (err as Error).message);
    }
  }

  private throwOnFailure(steps: readonly ProgramStep[], results: readonly StepResult[]): void {
    const first = steps[0];
    if (first === undefined) return;
    results.forEach((r, i) => {
      if (r.code !== 0) throw new IptablesCommandError(stepLine(steps[i] ?? first), r.code, r.stderr);
    });
    if (results.length < steps.length) throw new IptablesCommandError(stepLine(steps[results.length] ?? first), -1, `the plugin ran ${results.length} of ${steps.length} steps`);
  }

  private async add(req: PluginRequest, peer: PluginPeer | undefined): Promise<AgentResponse> {
    const t = await this.target(req, 'ADD');
    if (!('want' in t)) return t;
    const { ref, pod, want, netns } = t;
    const ruleSet = want.ruleSet;
    try {
      const spawns = await this.d.locks.run(netns, async () => {
        if (peer !== undefined && !this.d.index.seen(req.containerId, netns, req.network, req.ifName)) return this.applyFresh(peer, ruleSet, want.decision, req.netlink === true);
        const { executor, opts } = await this.executorFor(peer, netns);
        return (await executor.apply(ruleSet, opts)).spawns;
      });
      this.d.index.record({ pod: { ...ref, ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}) }, containerId: req.containerId, netns, ips: req.ips, ruleSet, source: 'add' });
      return { ok: true, redirected: true, reason: want.decision.reason, message: want.decision.message, spawns };
    } catch (err) {
      return this.commandFailed(pod, err);
    }
  }

  private async check(req: PluginRequest, peer: PluginPeer | undefined): Promise<AgentResponse> {
    const t = await this.target(req, 'CHECK');
    if (!('want' in t)) return t;
    const { pod, netns } = t;
    const ruleSet = t.want.ruleSet;
    try {
      const { executor, opts } = await this.executorFor(peer, netns);
      return await this.d.locks.run(netns, async () => {
        const live = await inspect(executor, ruleSet, opts);
        if (live.inSync) return { ok: true, redirected: true, reason: 'in-sync', message: 'the live rules match the desired rules', spawns: live.spawns };
        const res = await executor.apply(ruleSet, opts);
        this.d.metrics?.repairs.inc({ action: 'restore' });
        this.d.events.emit(pod, 'Normal', EVENT_REASON.restored, 'Restored traffic redirection rules that had drifted (CNI CHECK)');
        this.d.log.info('Restored drifted rules', { kind: 'Pod', namespace: req.pod?.namespace, name: req.pod?.name, netns, cause: 'CHECK' });
        return { ok: true, redirected: true, reason: 'restored', message: 'restored rules that had drifted', spawns: live.spawns + res.spawns };
      });
    } catch (err) {
      return this.commandFailed(pod, err);
    }
  }

  private async del(req: PluginRequest, peer: PluginPeer | undefined): Promise<AgentResponse> {
    const tracked = this.d.index.forgetContainer(req.containerId);
    const netns = this.d.index.agentPath(req.netns);
    if (req.netns === '' || !fs.existsSync(netns)) return { ok: true, redirected: false, reason: 'netns-gone', message: 'the network namespace no longer exists', spawns: 0 };
    try {
      // The rule set this agent applied (with its policy routing), else every family the pod has addresses in.
      const families: Family[] = req.ips.length === 0 ? ['v4', 'v6'] : req.ips.some((ip) => ip.includes(':')) ? ['v4', 'v6'] : ['v4'];
      const { executor, opts } = await this.executorFor(peer, netns);
      const res = await this.d.locks.run(netns, () => executor.cleanup(tracked?.ruleSet ? { ...opts, ruleSet: tracked.ruleSet } : { ...opts, families }));
      return { ok: true, redirected: res.changed, reason: 'cleaned', message: res.changed ? 'removed the redirection rules' : 'nothing to remove', spawns: res.spawns };
    } catch (err) {
      if (!(err instanceof IptablesCommandError)) throw err;
      return fail(CNI_ERROR.redirectFailed, `mizzen agent could not clean ${req.netns}: ${err.message}`);
    }
  }
}
