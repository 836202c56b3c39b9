import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import { R } from './resources.js';
import { errorMessage } from './errors.js';
import type { Logger } from '../util/log.js';
import { toRfc3339 } from '../util/conditions.js';

export type EventKind = 'Normal' | 'Warning';

export interface EventSink {
  emit(obj: KubernetesObject, type: EventKind, reason: string, message: string): void;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  first: string;
  at: number;
}

/**
 * Records core/v1 Events on the objects the operator manages. A repeat of the same (object, type, reason,
 * message) within ten minutes bumps the count of the existing Event instead of creating a new one, like
 * client-go's correlator. Emitting never throws and never blocks a reconcile.
 */
export class EventRecorder implements EventSink {
  private readonly recent = new Map<string, Recorded>();
  private readonly windowMs = 600_000;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  emit(obj: KubernetesObject, type: EventKind, reason: string, message: string): void {
    void this.record(obj, type, reason, message).catch((err: unknown) =>
      this.log.warn('Could not record event', { kind: obj.kind, name: obj.metadata?.name, reason, error: errorMessage(err) }),
    );
  }

  async record(obj: KubernetesObject, type: EventKind, reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const namespace = md.namespace ?? 'default';
    const key = `${md.uid ?? `${namespace}/${md.name ?? ''}`}|${type}|${reason}|${message}`;
    const now = Date.now();
    const ts = toRfc3339(new Date(now));
    const seen = this.recent.get(key);
    if (seen && now - seen.at < this.windowMs) {
      seen.count++;
      seen.at = now;
      await this.client.mergePatch(R.event, seen.name, seen.namespace, { count: seen.count, lastTimestamp: ts });
      return;
    }
    const name = `${md.name ?? 'unknown'}.${now.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.client.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion },
      type,
      reason,
      message: message.slice(0, 1024),
      count: 1,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
    } as KubernetesObject);
    this.recent.set(key, { name, namespace, count: 1, first: ts, at: now });
    if (this.recent.size > 4096) this.prune(now);
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
