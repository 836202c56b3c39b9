// What the MCS controller reads of one cluster, from informer caches: ServiceExports, Services and the source
// EndpointSlices (indexed by the Service they belong to), cut down to one service at a time for the planner.
import type { KubernetesObject, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Informer } from '../../kube/informer.js';
import type { AnyServiceExport, ClusterState, ServiceKey } from '../../mcs/index.js';
import { keyString } from '../../mcs/index.js';
import { sourceSliceKey } from './watches.js';

/**
 * The objects of one informer grouped by a key computed from each (e.g. the service a slice belongs to), kept up
 * to date from the informer's events, relists included. Register it before the informer starts.
 */
export class Index<T extends KubernetesObject> {
  private readonly buckets = new Map<string, Map<string, T>>();
  private readonly keyOfObject = new Map<string, string>();

  constructor(
    informer: Informer<T>,
    private readonly keyFn: (obj: T) => string | undefined,
  ) {
    informer.on((type, obj) => this.update(type === 'delete', obj));
  }

  private update(deleted: boolean, obj: T): void {
    const id = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    const old = this.keyOfObject.get(id);
    if (old !== undefined) {
      const bucket = this.buckets.get(old);
      bucket?.delete(id);
      if (bucket?.size === 0) this.buckets.delete(old);
      this.keyOfObject.delete(id);
    }
    const key = deleted ? undefined : this.keyFn(obj);
    if (key === undefined) return;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(key, bucket);
    }
    bucket.set(id, obj);
    this.keyOfObject.set(id, key);
  }

  get(key: string): T[] {
    return [...(this.buckets.get(key)?.values() ?? [])];
  }

  keys(): string[] {
    return [...this.buckets.keys()];
  }
}

export interface ClusterInformers {
  readonly exports: Informer<AnyServiceExport & KubernetesObject>;
  readonly services: Informer<V1Service>;
  /** Every EndpointSlice, or only the source ones (a peer's informer selects them by label). */
  readonly slices: Informer<V1EndpointSlice>;
}

/** One cluster's MCS inputs as its informers hold them. */
export class ClusterCache {
  private readonly sourceSlices: Index<V1EndpointSlice>;

  constructor(readonly informers: ClusterInformers) {
    this.sourceSlices = new Index(informers.slices, sourceSliceKey);
  }

  all(): Informer[] {
    return [this.informers.exports, this.informers.services, this.informers.slices] as unknown as Informer[];
  }

  /** True once every informer has loaded its first LIST. */
  synced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  /**
   * The part of the cluster's state that one service's plan reads: its export, its Service and its source
   * slices. `namespaces` is what the caller knows of the namespaces (the planner reads only the local cluster's).
   */
  state(key: ServiceKey, namespaces: readonly string[] = []): ClusterState {
    const ex = this.informers.exports.get(key.name, key.namespace);
    const svc = this.informers.services.get(key.name, key.namespace);
    return {
      namespaces,
      serviceExports: ex ? [ex] : [],
      services: svc ? [svc] : [],
      endpointSlices: this.sourceSlices.get(keyString(key)),
    };
  }

  /** The keys of every ServiceExport in the cluster. */
  exportKeys(): string[] {
    return this.informers.exports.list().map((e) => `${e.metadata.namespace ?? ''}/${e.metadata.name ?? ''}`);
  }

  /** The keys of every export in one namespace. */
  exportKeysIn(namespace: string): string[] {
    return this.informers.exports.list(namespace).map((e) => `${namespace}/${e.metadata.name ?? ''}`);
  }
}
