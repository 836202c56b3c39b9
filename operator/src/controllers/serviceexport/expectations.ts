// Write expectations (client-go's ControllerExpectations, by resourceVersion equality): after a reconcile writes
// an object, the informer cache holds an older copy until the watch event of that write arrives. A reconcile of the
// same service in that window would plan from the older copy and write again (statuses with a new transition
// time, objects the server then leaves as they are). So the controller records the resourceVersion each write
// returned, the informers clear it when they deliver that version (or the deletion), and a service with writes not
// yet seen waits for them. An expectation older than `ttlMs` is dropped, so a lost event only delays. A watch
// event can arrive before the response of the write that caused it, so the last versions seen of each object are
// remembered too, and a write whose version was already seen expects nothing.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer } from '../../kube/informer.js';
import { identity } from '../../kube/apply.js';

interface Expected {
  readonly key: string;
  /** The resourceVersion the write returned; null for a deletion. */
  readonly resourceVersion: string | null;
  readonly at: number;
}

/** How many of the last versions of an object are remembered, and how many objects at most. */
const VERSIONS_KEPT = 4;
const OBJECTS_KEPT = 20_000;

export class Expectations {
  private readonly byObject = new Map<string, Expected>();
  private readonly byKey = new Map<string, Set<string>>();
  /** identity → the last resourceVersions delivered (null: the deletion), most recent last. */
  private readonly recent = new Map<string, (string | null)[]>();

  constructor(
    private readonly ttlMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Clears expectations as the informer delivers the objects they wait for. */
  observe(informer: Informer): void {
    informer.on((type, obj) => this.seen(obj, type === 'delete'));
  }

  /** The service `key` wrote `obj` (its resourceVersion as the server returned it), or deleted it. */
  expect(key: string, obj: KubernetesObject, deleted = false): void {
    const id = identity(obj);
    this.drop(id);
    const resourceVersion = deleted ? null : (obj.metadata?.resourceVersion ?? '');
    if (this.recent.get(id)?.includes(resourceVersion)) return;
    this.byObject.set(id, { key, resourceVersion, at: this.now() });
    let ids = this.byKey.get(key);
    if (!ids) {
      ids = new Set();
      this.byKey.set(key, ids);
    }
    ids.add(id);
  }

  /** Whether the service has writes the caches have not shown yet (expired ones are dropped). */
  pending(key: string): boolean {
    const ids = this.byKey.get(key);
    if (!ids) return false;
    const cutoff = this.now() - this.ttlMs;
    for (const id of [...ids]) if ((this.byObject.get(id)?.at ?? 0) < cutoff) this.drop(id);
    return this.byKey.has(key);
  }

  /** The objects (identities) a service still waits for. */
  waitingFor(key: string): string[] {
    return [...(this.byKey.get(key) ?? [])];
  }

  /** Forgets what a service waits for (e.g. after a failed reconcile). */
  clear(key: string): void {
    for (const id of [...(this.byKey.get(key) ?? [])]) this.drop(id);
  }

  private seen(obj: KubernetesObject, deleted: boolean): void {
    const id = identity(obj);
    const versions = this.recent.get(id) ?? [];
    this.recent.delete(id);
    this.recent.set(id, [...versions.slice(1 - VERSIONS_KEPT), deleted ? null : (obj.metadata?.resourceVersion ?? '')]);
    if (this.recent.size > OBJECTS_KEPT) this.recent.delete(this.recent.keys().next().value as string);
    const e = this.byObject.get(id);
    if (!e) return;
    if (deleted || e.resourceVersion === obj.metadata?.resourceVersion) this.drop(id);
  }

  private drop(id: string): void {
    const e = this.byObject.get(id);
    if (!e) return;
    this.byObject.delete(id);
    const ids = this.byKey.get(e.key);
    ids?.delete(id);
    if (ids?.size === 0) this.byKey.delete(e.key);
  }
}
