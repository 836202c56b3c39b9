import type { KubernetesObject } from '@kubernetes/client-node';
import type { IstioOperatorStatus } from '../../api/index.js';
import { keyOf, meta } from '../../kube/objects.js';
import { type Condition, type ConditionInput, boundMessage, setConditions } from '../../util/conditions.js';

/** Pure status computation for an IstioOperator. */
export type OverallStatus = 'NONE' | 'RECONCILING' | 'HEALTHY' | 'ERROR' | 'ACTION_REQUIRED';

export interface Readiness {
  ready: boolean;
  /** Why not ready, for status.componentStatus.<C>.error and the message. */
  reason?: string;
}

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  desiredNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
}

type Workload = KubernetesObject & { spec?: { replicas?: number }; status?: WorkloadStatus };

/** Whether a live Deployment or DaemonSet has rolled out and all its pods are ready. Other kinds are ready once they exist. */
export function workloadReadiness(live: KubernetesObject | undefined): Readiness {
  if (!live) return { ready: false, reason: 'not created yet' };
  if (live.kind !== 'Deployment' && live.kind !== 'DaemonSet') return { ready: true };
  const w = live as Workload;
  const s = w.status ?? {};
  const name = `${live.kind} ${keyOf(live)}`;
  if ((s.observedGeneration ?? 0) < meta(live).generation) return { ready: false, reason: `${name}: rollout not observed yet` };
  const counts =
    live.kind === 'Deployment'
      ? { want: w.spec?.replicas ?? 1, updated: s.updatedReplicas, ready: s.availableReplicas, unit: 'replicas', state: 'available' }
      : { want: s.desiredNumberScheduled ?? 0, updated: s.updatedNumberScheduled, ready: s.numberReady, unit: 'pods', state: 'ready' };
  const updated = counts.updated ?? 0;
  const ready = counts.ready ?? 0;
  if (updated < counts.want) return { ready: false, reason: `${name}: ${updated}/${counts.want} ${counts.unit} updated` };
  if (ready < counts.want) return { ready: false, reason: `${name}: ${ready}/${counts.want} ${counts.unit} ${counts.state}` };
  return { ready: true };
}

export interface ComponentReport {
  status: 'HEALTHY' | 'RECONCILING' | 'ERROR' | 'NONE';
  error?: string;
}

/** Per component: HEALTHY when every workload of it is ready, RECONCILING with the first reason otherwise. */
export function componentReports(
  enabled: Record<string, { enabled: boolean }>,
  desired: readonly KubernetesObject[],
  componentOf: (obj: KubernetesObject) => string | undefined,
  live: (obj: KubernetesObject) => KubernetesObject | undefined,
): Record<string, ComponentReport> {
  const out: Record<string, ComponentReport> = {};
  for (const [component, { enabled: on }] of Object.entries(enabled)) {
    if (!on) continue;
    const reasons = desired
      .filter((o) => componentOf(o) === component)
      .map((o) => workloadReadiness(live(o)))
      .filter((r) => !r.ready)
      .map((r) => r.reason ?? 'not ready');
    out[component] = reasons.length ? { status: 'RECONCILING', error: reasons[0] } : { status: 'HEALTHY' };
  }
  return out;
}

export interface StatusInput {
  generation: number;
  previous: IstioOperatorStatus | undefined;
  now: Date;
  /** Set when the spec is invalid or the objects could not be applied. */
  failure?: { reason: string; message: string; field?: string };
  components?: Record<string, ComponentReport>;
}

/** The whole status subresource for this reconcile; conditions keep their lastTransitionTime unless they flip. */
export function buildStatus(input: StatusInput): IstioOperatorStatus {
  const { failure, components = {} } = input;
  const notReady = Object.entries(components).filter(([, c]) => c.status !== 'HEALTHY');
  let overall: OverallStatus;
  let message: string;
  const conds: ConditionInput[] = [];
  const og = input.generation;
  if (failure) {
    overall = 'ERROR';
    message = failure.message;
    conds.push({ type: 'Reconciled', status: 'False', reason: failure.reason, message: failure.message, observedGeneration: og });
    conds.push({ type: 'Ready', status: 'False', reason: failure.reason, message: failure.message, observedGeneration: og });
  } else if (notReady.length) {
    overall = 'RECONCILING';
    message = notReady.map(([c, r]) => `${c}: ${r.error ?? 'not ready'}`).join('; ');
    conds.push({ type: 'Reconciled', status: 'True', reason: 'Applied', message: 'All objects were applied', observedGeneration: og });
    conds.push({ type: 'Ready', status: 'False', reason: 'ComponentsNotReady', message, observedGeneration: og });
  } else {
    overall = 'HEALTHY';
    message = Object.keys(components).length ? `Components ${Object.keys(components).sort().join(', ')} are ready` : 'No components are enabled';
    conds.push({ type: 'Reconciled', status: 'True', reason: 'Applied', message: 'All objects were applied', observedGeneration: og });
    conds.push({ type: 'Ready', status: 'True', reason: 'ComponentsReady', message, observedGeneration: og });
  }
  const componentStatus: Record<string, { status: string; error?: string }> = {};
  for (const [c, r] of Object.entries(components).sort(([a], [b]) => a.localeCompare(b))) componentStatus[c] = r.error ? { status: r.status, error: boundMessage(r.error, 1024) } : { status: r.status };
  const conditions: Condition[] = setConditions(input.previous?.conditions, conds, input.now);
  message = boundMessage(message);
  // An empty map would reach the API server as null, which the schema rejects: leave the field out instead.
  return {
    status: overall,
    message,
    observedGeneration: og,
    ...(Object.keys(componentStatus).length ? { componentStatus } : {}),
    conditions,
  } as IstioOperatorStatus;
}

/** Whether two statuses differ in anything but key order. */
export function statusChanged(a: unknown, b: unknown): boolean {
  return canonical(a) !== canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)))
      : val,
  );
}
