// The agent's view of the pods on its node: the informer cache (LIST+WATCH with fieldSelector
// spec.nodeName=<node>), with a wait for a pod the kubelet is starting before the watch event has arrived.
import type { V1Pod } from '@kubernetes/client-node';
import type { Informer } from '../kube/informer.js';

export interface PodSource {
  get(namespace: string, name: string): V1Pod | undefined;
  /** The pod once the cache has it (with this uid, if given); undefined after timeoutMs. */
  waitFor(namespace: string, name: string, uid: string | undefined, timeoutMs: number): Promise<V1Pod | undefined>;
}

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

function matches(pod: V1Pod | undefined, uid: string | undefined): pod is V1Pod {
  return pod !== undefined && (uid === undefined || pod.metadata?.uid === uid);
}

/** Reads one pod from the API server (undefined when it does not exist or is not on this node). */
export type PodFetcher = (namespace: string, name: string) => Promise<V1Pod | undefined>;

/**
 * The informer cache, and for a pod it does not hold yet, the API server: a watch that lags or has stalled must
 * not fail the ADDs on this node for minutes. After fallbackAfterMs without the pod in the cache, waitFor GETs
 * it (then once a second) until the cache has it, a GET finds it, or the time is up.
 */
export class InformerPodSource implements PodSource {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Pods found by a GET rather than the cache, for metrics and tests. */
  readonly stats = { fetched: 0, fetchErrors: 0 };

  constructor(
    private readonly informer: Informer<V1Pod>,
    private readonly fetch?: PodFetcher,
    private readonly fallbackAfterMs = 250,
  ) {
    informer.on((_type, pod) => {
      const k = keyOf(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
      for (const w of this.waiters.get(k) ?? []) w();
    });
  }

  get(namespace: string, name: string): V1Pod | undefined {
    return this.informer.get(name, namespace);
  }

  list(): V1Pod[] {
    return this.informer.list();
  }

  async waitFor(namespace: string, name: string, uid: string | undefined, timeoutMs: number): Promise<V1Pod | undefined> {
    const found = this.get(namespace, name);
    if (matches(found, uid) || timeoutMs <= 0) return matches(found, uid) ? found : undefined;
    const k = keyOf(namespace, name);
    return new Promise((resolve) => {
      const set = this.waiters.get(k) ?? new Set<() => void>();
      this.waiters.set(k, set);
      let finished = false;
      let fetchTimer: ReturnType<typeof setTimeout> | undefined;
      const done = (pod: V1Pod | undefined): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (fetchTimer) clearTimeout(fetchTimer);
        set.delete(check);
        if (set.size === 0) this.waiters.delete(k);
        resolve(pod);
      };
      const check = (): void => {
        const p = this.get(namespace, name);
        if (matches(p, uid)) done(p);
      };
      const fetchOnce = (): void => {
        if (finished || !this.fetch) return;
        this.fetch(namespace, name).then(
          (p) => {
            if (matches(p, uid)) {
              this.stats.fetched++;
              done(p);
            } else if (!finished) fetchTimer = setTimeout(fetchOnce, 1000);
          },
          () => {
            this.stats.fetchErrors++;
            if (!finished) fetchTimer = setTimeout(fetchOnce, 1000);
          },
        );
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      if (this.fetch && this.fallbackAfterMs < timeoutMs) fetchTimer = setTimeout(fetchOnce, this.fallbackAfterMs);
      set.add(check);
    });
  }
}

/** A fixed set of pods (unit tests). */
export class StaticPodSource implements PodSource {
  readonly pods = new Map<string, V1Pod>();

  constructor(pods: readonly V1Pod[] = []) {
    for (const p of pods) this.set(p);
  }

  set(pod: V1Pod): void {
    this.pods.set(keyOf(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''), pod);
  }

  get(namespace: string, name: string): V1Pod | undefined {
    return this.pods.get(keyOf(namespace, name));
  }

  waitFor(namespace: string, name: string, uid: string | undefined): Promise<V1Pod | undefined> {
    const p = this.get(namespace, name);
    return Promise.resolve(matches(p, uid) ? p : undefined);
  }
}
