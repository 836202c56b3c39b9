// Repair and drift, one level-based reconcile per pod of this node (the agent's only controller):
//  - drift: a pod whose netns has our rules (or that this agent programmed) but not the desired ones gets them
//    restored, whatever values.cni.repair says;
//  - repair (values.cni.repair): a pod that qualifies for redirection but started before the agent was ready —
//    its netns has none of our rules, or its `istio-validation` init container failed — is repaired in place
//    (repairPods), else labelled `cni.istio.io/uninitialized=true` (labelPods) and/or deleted (deletePods), so its
//    owner recreates it through the now-installed plugin.
// The plan is pure (planRepair); PodRepairer does the I/O. It runs only after the pod cache has synced and
// install-cni has completed: "not in the cache" never means "broken".
import type { V1Pod } from '@kubernetes/client-node';
import type { CniRepairSettings } from '../render/cniconfig.js';
import type { IptablesExecutor, RuleSet } from '../iptables/index.js';
import type { EventSink } from '../kube/events.js';
import type { Logger } from '../util/log.js';
import type { DecideSettings } from './decide.js';
import type { DriftProbe } from './drift.js';
import { EVENT_REASON, type LiveState, desiredFor, inspect } from './handler.js';
import type { KeyedLock } from './lock.js';
import type { AgentMetrics } from './metrics.js';
import type { Attachment, NetnsIndex } from './netns.js';
import type { PodSource } from './pods.js';
import { type PodRef, PLUGIN_TYPE } from './protocol.js';

/** istio-validation's exit code when the redirection it probes is missing (Istio's ValidationErrorCode). */
export const VALIDATION_ERROR_CODE = 126;

export type RepairAction = 'restore' | 'repair' | 'label' | 'delete';

export interface RepairInput {
  /** The pod qualifies for redirection and its annotations are valid. */
  readonly wantsRedirect: boolean;
  /** The state of its netns, when the netns is known and exists. */
  readonly live?: Pick<LiveState, 'inSync' | 'hasOurs'>;
  /** This agent process programmed the netns (ADD or an earlier repair). */
  readonly programmed: boolean;
  /**
   * The sandbox may have been set up without the plugin: the chain the runtime ran (libcni's cache keeps it) lacks
   * mizzen-cni, or, when that is unknown, it was set up before the agent was ready (or when is unknown). One set up
   * through the plugin was decided then: no rules there means the pod's annotations changed since, not a race.
   */
  readonly mayHaveMissedPlugin: boolean;
  readonly validationFailed: boolean;
  /** The pod already carries the broken-pod label. */
  readonly labelled: boolean;
  readonly settings: CniRepairSettings;
}

export interface RepairPlan {
  readonly actions: readonly RepairAction[];
  readonly reason: string;
}

function brokenActions(input: RepairInput, canRepairInPlace: boolean, reason: string): RepairPlan {
  const s = input.settings;
  if (!s.enabled) return { actions: [], reason: `${reason}; repair is disabled` };
  if (s.repairPods && canRepairInPlace) return { actions: ['repair'], reason };
  const actions: RepairAction[] = [];
  if (s.labelPods && !input.labelled) actions.push('label');
  if (s.deletePods) actions.push('delete');
  return { actions, reason };
}

/** What to do with one pod. Pure. */
export function planRepair(input: RepairInput): RepairPlan {
  if (!input.wantsRedirect) return { actions: [], reason: 'not redirected' };
  const live = input.live;
  if (live !== undefined) {
    if (live.inSync) return { actions: [], reason: 'in sync' };
    if (live.hasOurs || input.programmed) return { actions: ['restore'], reason: 'rules drifted' };
    if (!input.mayHaveMissedPlugin) return { actions: [], reason: 'no rules, but its sandbox was set up through the plugin' };
    return brokenActions(input, true, 'no redirection rules in its netns: it started before the agent was ready');
  }
  if (input.validationFailed) return brokenActions(input, false, `its ${input.settings.initContainerName} init container failed`);
  return { actions: [], reason: 'netns unknown' };
}

/** Whether the named init container terminated with the validation error code (now or in its last run). */
export function validationFailed(pod: V1Pod, initContainerName: string): boolean {
  const status = (pod.status?.initContainerStatuses ?? []).find((s) => s.name === initContainerName);
  if (status === undefined) return false;
  return status.state?.terminated?.exitCode === VALIDATION_ERROR_CODE || status.lastState?.terminated?.exitCode === VALIDATION_ERROR_CODE;
}

/** Label and delete, behind an interface (KubeClient in the agent, a recording fake in tests). */
export interface PodWriter {
  label(pod: V1Pod, key: string, value: string): Promise<void>;
  delete(pod: V1Pod): Promise<void>;
}

export interface RepairDeps {
  readonly pods: PodSource;
  readonly executor: IptablesExecutor;
  readonly events: EventSink;
  readonly index: NetnsIndex;
  readonly locks: KeyedLock;
  readonly settings: DecideSettings;
  readonly repair: CniRepairSettings;
  readonly writer: PodWriter;
  readonly log: Logger;
  readonly metrics?: AgentMetrics;
  /** When the agent became ready (epoch ms); sandboxes set up before then may have missed the plugin. */
  readonly readyAt?: () => number | undefined;
  /** Skips reading a netns whose rules have not changed since it was last found in sync (drift.ts). */
  readonly probe?: DriftProbe;
}

function podIps(pod: V1Pod): string[] {
  return (pod.status?.podIPs ?? []).map((p) => p.ip);
}

/**
 * Whether a sandbox may have been set up without the plugin. The chain the runtime ran (libcni's cache) tells; the
 * time only when that is unknown: a runtime that read the configuration just before our insert finishes its ADD
 * after the agent became ready, without the plugin.
 */
export function mayHaveMissedPlugin(att: Pick<Attachment, 'chain' | 'attachedAt'> | undefined, readyAt: number | undefined): boolean {
  if (att?.chain !== undefined) return !att.chain.includes(PLUGIN_TYPE);
  return att?.attachedAt === undefined || readyAt === undefined || att.attachedAt < readyAt;
}

export class PodRepairer {
  constructor(private readonly d: RepairDeps) {}

  /** Reconciles one pod (key namespace/name). Returns the actions taken. */
  async reconcile(key: string): Promise<RepairAction[]> {
    const i = key.indexOf('/');
    const namespace = key.slice(0, i);
    const name = key.slice(i + 1);
    const pod = this.d.pods.get(namespace, name);
    if (pod === undefined || pod.metadata?.deletionTimestamp) {
      this.d.index.forgetPod({ namespace, name });
      return [];
    }
    const ref = { namespace, name, ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}) };
    const att = await this.d.index.lookup(ref);
    const want = desiredFor(pod, att?.ips ?? podIps(pod), this.d.settings);
    const ruleSet = 'ruleSet' in want ? want.ruleSet : undefined;
    const base = { ...this.baseInput(pod, ref, ruleSet !== undefined), mayHaveMissedPlugin: mayHaveMissedPlugin(att, this.d.readyAt?.()) };
    if (ruleSet === undefined || att === undefined) return this.act(pod, planRepair(base), undefined);
    const netns = att.netns;
    return this.d.locks.run(netns, async () => {
      const probed = await this.probe(netns, ruleSet);
      if (probed.unchanged) return []; // unchanged since found in sync with the same desired rules
      const live = await inspect(this.d.executor, ruleSet, { netnsPath: netns });
      this.d.metrics?.spawns.inc({ cause: 'drift-check', by: 'agent' }, live.spawns);
      const plan = planRepair({ ...base, live });
      if (live.inSync) this.d.probe?.verify(netns, probed.fp, probed.desired);
      else this.d.probe?.forget(netns);
      if (plan.actions.includes('restore') || plan.actions.includes('repair')) {
        const res = await this.d.executor.apply(ruleSet, { netnsPath: netns });
        this.d.metrics?.spawns.inc({ cause: 'repair', by: 'agent' }, res.spawns);
        this.d.index.record({ ...att, pod: ref, ruleSet });
      }
      return this.act(pod, plan, netns);
    });
  }

  /** The netns's fingerprint (one process per round for all netns) and whether it is unchanged since in sync. */
  private async probe(netns: string, ruleSet: RuleSet): Promise<{ unchanged: boolean; fp?: string; desired: string }> {
    const probe = this.d.probe;
    const desired = JSON.stringify(ruleSet);
    if (probe === undefined) return { unchanged: false, desired };
    const runs = probe.runs;
    const fp = await probe.current(netns);
    if (probe.runs > runs) this.d.metrics?.spawns.inc({ cause: 'drift-probe', by: 'agent' }, probe.runs - runs);
    return { unchanged: probe.unchanged(netns, fp, desired), ...(fp === undefined ? {} : { fp }), desired };
  }

  private baseInput(pod: V1Pod, ref: PodRef, wantsRedirect: boolean): Omit<RepairInput, 'mayHaveMissedPlugin'> {
    const labels = pod.metadata?.labels ?? {};
    return {
      wantsRedirect,
      programmed: this.d.index.trackedFor(ref) !== undefined,
      validationFailed: validationFailed(pod, this.d.repair.initContainerName),
      labelled: labels[this.d.repair.brokenPodLabelKey] === this.d.repair.brokenPodLabelValue,
      settings: this.d.repair,
    };
  }

  private async act(pod: V1Pod, plan: RepairPlan, netns: string | undefined): Promise<RepairAction[]> {
    const fields = { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, reason: plan.reason, ...(netns ? { netns } : {}) };
    for (const action of plan.actions) {
      this.d.metrics?.repairs.inc({ action });
      switch (action) {
        case 'restore':
          this.d.events.emit(pod, 'Normal', EVENT_REASON.restored, `Restored traffic redirection rules: ${plan.reason}`);
          this.d.log.info('Restored drifted rules', fields);
          break;
        case 'repair':
          this.d.events.emit(pod, 'Normal', EVENT_REASON.repaired, `Programmed traffic redirection in place: ${plan.reason}`);
          this.d.log.info('Repaired pod in place', fields);
          break;
        case 'label':
          await this.d.writer.label(pod, this.d.repair.brokenPodLabelKey, this.d.repair.brokenPodLabelValue);
          this.d.events.emit(pod, 'Warning', EVENT_REASON.labelled, `Labelled ${this.d.repair.brokenPodLabelKey}=${this.d.repair.brokenPodLabelValue}: ${plan.reason}`);
          this.d.log.info('Labelled uninitialized pod', fields);
          break;
        case 'delete':
          this.d.events.emit(pod, 'Warning', EVENT_REASON.deleted, `Deleted so that it is recreated with traffic redirection: ${plan.reason}`);
          await this.d.writer.delete(pod);
          this.d.log.info('Deleted uninitialized pod', fields);
          break;
      }
    }
    return [...plan.actions];
  }
}
