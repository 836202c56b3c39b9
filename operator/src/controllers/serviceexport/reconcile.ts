// The serviceexport controller: Multi-Cluster Services (KEP-1645) for the local cluster. The work queue key is a
// service's "namespace/name", shared by its ServiceExports (in any member), Services, ServiceImport, derived
// Service and EndpointSlices. A reconcile reads every member's state of that one service from informer caches,
// lets the pure core plan the local objects (operator/src/mcs), and applies the plan: server-side apply of what
// changed, statuses through the status subresource, deletions with uid preconditions. It writes only to the local
// cluster; every member computes the same answer from the same inputs.
import type { KubernetesObject, V1EndpointSlice, V1Namespace, V1Secret, V1Service } from '@kubernetes/client-node';
import type { ServiceImport } from '../../api/index.js';
import type { KubeClient } from '../../kube/client.js';
import { appliedHashOf, identity, stripServerFields, withAppliedHash } from '../../kube/apply.js';
import { Controller, type ControllerOptions, type ReconcileResult } from '../../kube/controller.js';
import { classify, errorMessage, isNotFound } from '../../kube/errors.js';
import type { EventSink } from '../../kube/events.js';
import type { Informer } from '../../kube/informer.js';
import type { Manager } from '../../kube/manager.js';
import type { Metrics } from '../../kube/metrics.js';
import { R, type ResourceType } from '../../kube/resources.js';
import {
  derivedServiceName,
  isImportedSlice,
  keyString,
  plan,
  type AnyServiceExport,
  type ClusterSnapshot,
  type ExportStatus,
  type ImportStatus,
  ImportReason,
  type LocalLiveState,
  type McsPlan,
  type ObjectRef,
  type ServiceKey,
  type StatusUpdate,
} from '../../mcs/index.js';
import type { Condition } from '../../util/conditions.js';
import type { Logger } from '../../util/log.js';
import { ClusterCache, Index } from './cache.js';
import { holdAtStartup, Membership, MEMBER_SELECTOR } from './membership.js';
import { Expectations } from './expectations.js';
import { exportEvents, mustRecreate, rejectedStatus } from './status.js';
import { isMcsObject, managedSliceKey, parseKey, serviceKeys, sliceKeys } from './watches.js';

export const CONTROLLER_NAME = 'serviceexport';

export interface ServiceExportOptions {
  /** This cluster's id (ClusterProperty cluster.clusterset.k8s.io). */
  readonly clusterId: string;
  /** The operator's namespace, where the member Secrets live. */
  readonly namespace: string;
  /** How often each peer's /readyz is probed. */
  readonly probeIntervalMs: number;
  readonly informerIdleReconnectMs: number;
  readonly workers?: number;
  /**
   * Of the workers, the most that reconcile services queued without priority at once (WorkQueue maxBulkInFlight):
   * an endpoint change (queued with priority) then finds a free worker and few requests queued at the API server
   * ahead of its write, while a thousand new exports converge.
   */
  readonly bulkWorkers?: number;
  /** Re-enqueue every known service this often (level-based safety net). */
  readonly resyncMs?: number;
}

/**
 * Plans per reconcile at most: derived Services and then imports are applied first, and when they changed the plan
 * is made again from the server's answers, so that one reconcile goes from nothing to a derived Service with its
 * clusterset IP, an import with those IPs, owned slices and Ready statuses (derived Service → import with IPs →
 * the rest, in three plans; a fourth and fifth are spare, e.g. for a re-created derived Service).
 */
const MAX_PASSES = 5;
/** How long a service waits for the events of its own writes before it plans without them. */
const EXPECTATION_TTL_MS = 5000;

type Obj = KubernetesObject;
type ImportObj = ServiceImport & KubernetesObject;
type ExportObj = AnyServiceExport & KubernetesObject;
/** This reconcile's view of objects it wrote: identity → the server's answer, or null once deleted. */
type Overlay = Map<string, Obj | null>;

interface Applied {
  hash: string;
  resourceVersion: string;
}

interface Counts {
  applied: number;
  statuses: number;
  deleted: number;
}

/** One reconcile: its service key, what it wrote so far, and counts for the log. */
interface Run {
  readonly key: string;
  readonly overlay: Overlay;
  readonly counts: Counts;
  /** The API server's reason for rejecting the derived Service, if it did. */
  derivedRejected?: { name: string; error: string };
}

interface Hooks {
  start(): void;
  /** Called first when stopping: reconciles still queued then return at once instead of draining the queue. */
  stopping(): void;
  stop(): Promise<void>;
}

/** A Controller that also starts and stops the controller's peer clusters with it (only while leading). */
class McsController extends Controller {
  constructor(
    opts: ControllerOptions,
    log: Logger,
    metrics: Metrics,
    private readonly hooks: Hooks,
  ) {
    super(opts, log, metrics);
  }

  override start(): void {
    super.start();
    this.hooks.start();
  }

  override async stop(): Promise<void> {
    this.hooks.stopping();
    await super.stop();
    await this.hooks.stop();
  }
}

export class ServiceExportReconciler {
  private readonly local: ClusterCache;
  private readonly managedSlices: Index<V1EndpointSlice>;
  private readonly imports: Informer<ImportObj>;
  private readonly namespaces: Informer<V1Namespace>;
  private readonly secrets: Informer<V1Secret>;
  readonly members: Membership;
  private readonly applied = new Map<string, Applied>();
  private readonly expectations = new Expectations(EXPECTATION_TTL_MS);
  private ctrl?: Controller;
  private resyncTimer?: ReturnType<typeof setInterval>;
  private startedAt = 0;
  private stopped = false;

  constructor(
    private readonly client: KubeClient,
    manager: Manager,
    private readonly events: EventSink,
    private readonly log: Logger,
    private readonly opts: ServiceExportOptions,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.local = new ClusterCache({
      exports: manager.informer<ExportObj>(R.serviceExport),
      services: manager.informer<V1Service>(R.service),
      slices: manager.informer<V1EndpointSlice>(R.endpointSlice),
    });
    this.managedSlices = new Index(this.local.informers.slices, managedSliceKey);
    this.imports = manager.informer<ImportObj>(R.serviceImport);
    this.namespaces = manager.informer<V1Namespace>(R.namespace);
    this.secrets = manager.informer<V1Secret>(R.secret, { namespace: opts.namespace, labelSelector: MEMBER_SELECTOR });
    for (const inf of [...this.local.all(), this.imports as unknown as Informer]) this.expectations.observe(inf);
    this.members = new Membership(this.secrets, opts.clusterId, {
      log,
      probeIntervalMs: opts.probeIntervalMs,
      informerIdleReconnectMs: opts.informerIdleReconnectMs,
      onKeys: (keys, urgent) => this.enqueue(keys, urgent),
      onStateChange: () => this.enqueueAll(),
    });
  }

  controller(manager: Manager, log: Logger): Controller {
    const c = new McsController(
      { name: CONTROLLER_NAME, reconcile: (key) => this.reconcile(key), workers: this.opts.workers ?? 32, maxBulkInFlight: this.opts.bulkWorkers ?? 2 },
      log,
      manager.metrics,
      { start: () => this.onStart(), stopping: () => (this.stopped = true), stop: () => this.onStop() },
    );
    c.watch(this.local.informers.exports, serviceKeys);
    c.watch(this.local.informers.services, serviceKeys);
    // An endpoint change of a service goes ahead of new services (e.g. a thousand exports converging).
    c.watch(this.local.informers.slices, sliceKeys, (s) => !isImportedSlice(s));
    c.watch(this.imports, serviceKeys);
    c.watch(this.namespaces, (ns) => this.keysIn(ns.metadata?.name ?? ''));
    c.watch(this.secrets, () => (this.members.sync() ? [...this.allKeys()] : []));
    this.ctrl = c;
    return c;
  }

  private onStart(): void {
    this.startedAt = Date.now();
    this.stopped = false;
    this.members.sync();
    this.enqueueAll();
    const resync = this.opts.resyncMs ?? 10 * 60_000;
    if (resync > 0) {
      this.resyncTimer = setInterval(() => this.enqueueAll(), resync);
      this.resyncTimer.unref();
    }
  }

  private async onStop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.members.stop();
  }

  private enqueue(keys: readonly string[], urgent = false): void {
    for (const k of keys) this.ctrl?.enqueue(k, urgent);
  }

  private enqueueAll(): void {
    this.enqueue([...this.allKeys()]);
  }

  /** Every service any member exports, and every service the local cluster holds MCS objects for. */
  allKeys(): Set<string> {
    const keys = new Set<string>([...this.local.exportKeys(), ...this.managedSlices.keys()]);
    for (const m of this.members.members()) for (const k of m.exportKeys()) keys.add(k);
    for (const imp of this.imports.list()) for (const k of serviceKeys(imp)) keys.add(k);
    for (const svc of this.local.informers.services.list()) if (isMcsObject(svc, 'derived-service')) for (const k of serviceKeys(svc)) keys.add(k);
    return keys;
  }

  /** The services of one namespace (a namespace that appears or goes changes where imports belong). */
  private keysIn(namespace: string): string[] {
    const keys = new Set(this.local.exportKeysIn(namespace));
    for (const m of this.members.members()) for (const k of m.exportKeysIn(namespace)) keys.add(k);
    for (const imp of this.imports.list(namespace)) for (const k of serviceKeys(imp)) keys.add(k);
    return [...keys];
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    if (this.stopped) return;
    // Whoever notices a change of the member Secrets first makes every service look again.
    if (this.members.sync()) this.enqueueAll();
    const svc = parseKey(key);
    if (!svc.namespace || !svc.name) return;
    if (holdAtStartup(Date.now() - this.startedAt, this.members.members().map((m) => m.describe()))) return { requeueAfterMs: 1000 };
    // Our last writes are not in the caches yet: their events will bring this key back.
    if (this.expectations.pending(key)) {
      this.log.debug('Waiting for the events of earlier writes', { key, objects: this.expectations.waitingFor(key) });
      return { requeueAfterMs: EXPECTATION_TTL_MS };
    }
    const started = performance.now();
    const run: Run = { key, overlay: new Map(), counts: { applied: 0, statuses: 0, deleted: 0 } };
    const counts = run.counts;
    let last: McsPlan | undefined;
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      last = plan(this.opts.clusterId, this.snapshots(svc, run.overlay), this.liveState(svc, run.overlay), this.now());
      if (!last.localReady) return { requeueAfterMs: 1000 };
      if (!(await this.execute(last, run, pass === MAX_PASSES))) break;
    }
    const level = counts.applied + counts.deleted > 0 ? 'info' : 'debug';
    this.log.log(level, 'Reconciled multi-cluster service', {
      kind: 'ServiceExport',
      namespace: svc.namespace,
      name: svc.name,
      ...counts,
      ms: Math.round(performance.now() - started),
      ...(last && last.frozen.length > 0 ? { frozen: true } : {}),
    });
  }

  // ---- reading -------------------------------------------------------------------------------------------------

  private localSynced(): boolean {
    return this.local.synced() && this.imports.hasSynced() && this.namespaces.hasSynced();
  }

  /** Every member's state of one service; the local one overlaid with the statuses this reconcile wrote. */
  snapshots(key: ServiceKey, overlay: Overlay = new Map()): ClusterSnapshot[] {
    const ns = this.namespaces.get(key.namespace);
    const active = ns !== undefined && !ns.metadata?.deletionTimestamp && ns.status?.phase !== 'Terminating';
    const state = this.local.state(key, active ? [key.namespace] : []);
    const serviceExports = state.serviceExports.map((e) => (overlay.get(identity(e as Obj)) as ExportObj | undefined) ?? e);
    const local: ClusterSnapshot = { clusterId: this.opts.clusterId, reachable: true, synced: this.localSynced(), ...state, serviceExports };
    return [local, ...this.members.members().map((m) => m.snapshot(key))];
  }

  /** The local objects mizzen manages for one service, as the caches and this reconcile's writes say. */
  liveState(key: ServiceKey, overlay: Overlay = new Map()): LocalLiveState {
    const imp = this.current<ImportObj>({ apiVersion: R.serviceImport.apiVersion, kind: 'ServiceImport', metadata: { namespace: key.namespace, name: key.name } }, overlay);
    const derived = this.current<V1Service>({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: key.namespace, name: derivedServiceName(key) } }, overlay);
    const slices = new Map(this.managedSlices.get(keyString(key)).map((s) => [identity(s), s as Obj | null]));
    for (const [id, obj] of overlay) if (id.startsWith(`${R.endpointSlice.apiVersion}|EndpointSlice|`)) slices.set(id, obj);
    return {
      serviceImports: imp ? [imp] : [],
      derivedServices: derived && isMcsObject(derived, 'derived-service') ? [derived] : [],
      endpointSlices: [...slices.values()].filter((s): s is V1EndpointSlice => s !== null),
    };
  }

  /** The object as this reconcile last wrote it, else as cached. */
  private current<T extends Obj>(obj: Obj, overlay: Overlay): T | undefined {
    const id = identity(obj);
    if (overlay.has(id)) return (overlay.get(id) ?? undefined) as T | undefined;
    const name = obj.metadata?.name ?? '';
    const namespace = obj.metadata?.namespace;
    if (obj.kind === 'ServiceImport') return this.imports.get(name, namespace) as T | undefined;
    if (obj.kind === 'Service') return this.local.informers.services.get(name, namespace) as T | undefined;
    if (obj.kind === 'EndpointSlice') return this.local.informers.slices.get(name, namespace) as T | undefined;
    if (obj.kind === 'ServiceExport') return this.local.informers.exports.get(name, namespace) as T | undefined;
    return undefined;
  }

  // ---- writing -------------------------------------------------------------------------------------------------

  /**
   * Applies a plan in stages: derived Services first (the import's IPs come from them), then imports (the slices'
   * owner references need the import's uid). After a stage that changed something (and unless this is the last
   * pass) it returns true, so that the caller plans again with the server's answers before writing the rest.
   */
  private async execute(p: McsPlan, run: Run, last: boolean): Promise<boolean> {
    let changed = false;
    for (const svc of p.derivedServices) changed = (await this.tryApplyDerived(svc, run)) || changed;
    if (changed && !last) return true;
    for (const imp of p.serviceImports) changed = (await this.applyObject(withoutStatus(imp), run)) || changed;
    if (changed && !last) return true;
    // The slices and the statuses do not depend on each other (Ready says the import has its IPs, which are
    // written by now): one round trip for all of them. Deletions come last, so that a slice renamed by an
    // endpoint change is replaced before the old one goes.
    await settleAll([
      ...p.endpointSlices.map((slice) => this.applyObject(slice, run)),
      ...p.importStatuses.map((update) => this.writeImportStatus(this.withRejection(update, run), run)),
      ...p.exportStatuses.map((update) => this.writeExportStatus(this.withRejection(update, run), run)),
    ]);
    await settleAll(p.deletions.map((ref) => this.deleteRef(ref, run)));
    return false;
  }

  /**
   * Server-side applies an object unless the live object was applied with the same content (its applied-hash
   * annotation, which survives a restart) and nobody changed it since this process last applied it (its
   * resourceVersion is still the one apply returned). Returns whether the server changed it.
   */
  private async applyObject(obj: Obj, run: Run): Promise<boolean> {
    const id = identity(obj);
    const live = this.current(obj, run.overlay);
    const { obj: stamped, hash } = withAppliedHash(obj);
    if (this.unchanged(id, live, hash)) return false;
    const result = await this.client.apply(stripServerFields(stamped));
    const rv = result.metadata?.resourceVersion ?? '';
    this.applied.set(id, { hash, resourceVersion: rv });
    run.overlay.set(id, result);
    const changed = rv !== live?.metadata?.resourceVersion;
    if (changed) {
      run.counts.applied++;
      this.expectations.expect(run.key, result);
    }
    return changed;
  }

  /** Whether the live object holds `hash` (see applyObject); remembers its version when it was applied earlier. */
  private unchanged(id: string, live: Obj | undefined, hash: string): boolean {
    if (!live || appliedHashOf(live) !== hash) return false;
    const before = this.applied.get(id);
    const liveVersion = live.metadata?.resourceVersion ?? '';
    if (before?.hash === hash) return before.resourceVersion === liveVersion; // else changed by someone else since
    this.applied.set(id, { hash, resourceVersion: liveVersion });
    return true;
  }

  private async applyDerived(svc: V1Service, run: Run): Promise<boolean> {
    const live = this.current<V1Service>(svc, run.overlay);
    if (live && mustRecreate(live, svc)) {
      this.log.info('Re-creating derived Service for a new primary IP family', { kind: 'Service', namespace: live.metadata?.namespace, name: live.metadata?.name });
      await this.deleteObject(R.service, live, run);
    }
    return this.applyObject(svc, run);
  }

  /**
   * Applies the derived Service. A rejection (invalid input: retrying cannot help) does not stop the reconcile:
   * it is logged and recorded in the run, and the statuses say it (withRejection), with an Event on the import.
   */
  private async tryApplyDerived(svc: V1Service, run: Run): Promise<boolean> {
    try {
      return await this.applyDerived(svc, run);
    } catch (err) {
      if (classify(err) !== 'invalid') throw err;
      const name = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
      run.derivedRejected = { name, error: errorMessage(err) };
      this.log.warn('The API server rejected the derived Service', { kind: 'Service', namespace: svc.metadata?.namespace, name: svc.metadata?.name, service: run.key, error: errorMessage(err) });
      return false;
    }
  }

  /** The status update, with Ready=False and the server's message if this run's derived Service was rejected. */
  private withRejection<S extends { conditions: Condition[] }>(update: StatusUpdate<S>, run: Run): StatusUpdate<S> {
    const rejected = run.derivedRejected;
    if (!rejected) return update;
    const live = this.current({ apiVersion: update.apiVersion, kind: update.kind, metadata: { namespace: update.namespace, name: update.name } }, run.overlay) as
      | { status?: { conditions?: Condition[] } }
      | undefined;
    return rejectedStatus(update, live?.status?.conditions, rejected.name, rejected.error, this.now());
  }

  private async writeImportStatus(update: StatusUpdate<ImportStatus>, run: Run): Promise<void> {
    if (!update.changed) return;
    const before = this.imports.get(update.name, update.namespace);
    await this.writeStatus(update, run);
    const ready = update.status.conditions.find((c) => c.type === 'Ready');
    if (before && ready?.reason === ImportReason.DerivedServiceRejected && before.status?.conditions?.find((c) => c.type === 'Ready')?.reason !== ready.reason) {
      this.events.emit(before, 'Warning', ready.reason, ready.message);
    }
  }

  private async writeStatus<S>(update: StatusUpdate<S>, run: Run): Promise<Obj | undefined> {
    const body = { apiVersion: update.apiVersion, kind: update.kind, metadata: { name: update.name, namespace: update.namespace }, status: update.status } as Obj;
    const before = this.current(body, run.overlay);
    let result: Obj;
    try {
      result = await this.client.apply(body, { subresource: 'status' });
    } catch (err) {
      if (isNotFound(err)) return undefined; // deleted meanwhile: its next event reconciles again
      throw err;
    }
    const id = identity(body);
    run.overlay.set(id, result);
    run.counts.statuses++;
    if (result.metadata?.resourceVersion !== before?.metadata?.resourceVersion) this.expectations.expect(run.key, result);
    // The status write bumped the resourceVersion; the spec we applied is still current.
    const record = this.applied.get(id);
    if (record) record.resourceVersion = result.metadata?.resourceVersion ?? '';
    return result;
  }

  private async writeExportStatus(update: StatusUpdate<ExportStatus>, run: Run): Promise<void> {
    if (!update.changed) return;
    const before = this.local.informers.exports.get(update.name, update.namespace);
    const written = await this.writeStatus(update, run);
    if (!before || !written) return;
    for (const e of exportEvents(before.status?.conditions, update.status.conditions)) this.events.emit(before, e.type, e.reason, e.message);
  }

  private async deleteRef(ref: ObjectRef, run: Run): Promise<void> {
    const t = await this.client.resourceFor(ref.apiVersion, ref.kind);
    const live = this.current({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { namespace: ref.namespace, name: ref.name } }, run.overlay);
    if (live) await this.deleteObject(t, live, run);
  }

  private async deleteObject(t: ResourceType, live: Obj, run: Run): Promise<void> {
    const md = live.metadata ?? {};
    const typed = { ...live, apiVersion: t.apiVersion, kind: t.kind };
    if (await this.client.delete(t, md.name ?? '', md.namespace, { uid: md.uid })) {
      run.counts.deleted++;
      this.expectations.expect(run.key, typed, true);
    }
    const id = identity(typed);
    run.overlay.set(id, null);
    this.applied.delete(id);
  }
}

/** Waits for every promise (no write is left running when the reconcile ends), then throws the first error. */
async function settleAll(pending: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(pending);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The import as applied to the main resource: its status goes through the status subresource. */
function withoutStatus(imp: ServiceImport): Obj {
  const { status: _status, ...rest } = imp;
  return rest;
}
