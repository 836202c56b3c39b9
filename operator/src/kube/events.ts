import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { R } from './resources.js';
import { errorMessage, isNotFound } from './errors.js';
import { type Clock, realClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { boundMessage, toRfc3339 } from '../util/conditions.js';

export type EventKind = 'Normal' | 'Warning';

export interface EventSink {
  emit(obj: KubernetesObject, type: EventKind, reason: string, message: string): void;
}

interface Recorded {
  name: string;
  namespace: string;
  /** Occurrences so far, and the count the API server has. */
  count: number;
  written: number;
  at: number;
  /** The writes of this Event, one after the other: the create, then count bumps. */
  chain: Promise<void>;
}

/** The client calls the recorder makes (a KubeClient, or a fake in tests). */
export type EventClient = Pick<KubeClient, 'create' | 'mergePatch'>;

/**
 * Records core/v1 Events on the objects the operator manages. A repeat of the same (object, type, reason,
 * message) within ten minutes bumps the count of the existing Event instead of creating a new one, like
 * client-go's correlator. The writes of one Event are chained, so a repeat emitted while the Event is still
 * being created waits for it and patches it (never a second Event with count 1); counts only go up. Emitting
 * never throws and never blocks a reconcile.
 */
export class EventRecorder implements EventSink {
  private readonly recent = new Map<string, Recorded>();
  private readonly windowMs = 600_000;
  private readonly clock: Clock;

  constructor(
    private readonly client: EventClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
    clock?: Clock,
  ) {
    this.clock = clock ?? realClock;
  }

  emit(obj: KubernetesObject, type: EventKind, reason: string, message: string): void {
    void this.record(obj, type, reason, message).catch((err: unknown) =>
      this.log.warn('Could not record event', { kind: obj.kind, name: obj.metadata?.name, reason, error: errorMessage(err) }),
    );
  }

  record(obj: KubernetesObject, type: EventKind, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const namespace = md.namespace ?? 'default';
    const key = `${md.uid ?? `${namespace}/${md.name ?? ''}`}|${type}|${reason}|${message}`;
    const now = this.clock.now();
    const seen = this.recent.get(key);
    if (seen && now - seen.at < this.windowMs) {
      seen.count++;
      seen.at = now;
      seen.chain = seen.chain.catch(() => undefined).then(() => this.bump(seen, obj, type, reason, message));
      return seen.chain;
    }
    const entry: Recorded = { name: this.eventName(md.name, now), namespace, count: 1, written: 0, at: now, chain: Promise.resolve() };
    this.recent.set(key, entry);
    if (this.recent.size > 4096) this.prune(now);
    entry.chain = this.create(entry, obj, type, reason, message).catch((err: unknown) => {
      if (this.recent.get(key) === entry && entry.written === 0) this.recent.delete(key);
      throw err;
    });
    return entry.chain;
  }

  /** Writes the latest count, unless a write already carried it; an Event gone meanwhile is created again. */
  private async bump(e: Recorded, obj: KubernetesObject, type: EventKind, reason: string, message: string): Promise<void> {
    if (e.written >= e.count) return;
    if (e.written === 0) {
      e.name = this.eventName(obj.metadata?.name, this.clock.now());
      await this.create(e, obj, type, reason, message);
      return;
    }
    const count = e.count;
    try {
      await this.client.mergePatch(R.event, e.name, e.namespace, { count, lastTimestamp: toRfc3339(new Date(e.at)) });
      e.written = Math.max(e.written, count);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      e.name = this.eventName(obj.metadata?.name, this.clock.now());
      await this.create(e, obj, type, reason, message);
    }
  }

  private async create(e: Recorded, obj: KubernetesObject, type: EventKind, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const ts = toRfc3339(new Date(e.at));
    const count = e.count;
    await this.client.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: e.name, namespace: e.namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion },
      type,
      reason,
      message: boundMessage(message, 1024),
      count,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    } as KubernetesObject);
    e.written = count;
  }

  private eventName(objName: string | undefined, now: number): string {
    return `${objName ?? 'unknown'}.${now.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  }

  private prune(now: number): void {
    for (const [k, v] of this.recent) if (now - v.at >= this.windowMs) this.recent.delete(k);
  }
}

/** An EventSink that keeps events in memory (unit tests, --dry-run). */
export class RecordingEvents implements EventSink {
  readonly events: { kind?: string; name?: string; type: EventKind; reason: string; message: string }[] = [];
  emit(obj: KubernetesObject, type: EventKind, reason: string, message: string): void {
    this.events.push({ kind: obj.kind, name: obj.metadata?.name, type, reason, message });
  }
}
