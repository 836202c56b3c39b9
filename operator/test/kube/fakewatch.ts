// Fakes of what client-node's ListWatch talks to: the Watch (one record per watch request) and the LIST.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchLike } from '../../src/kube/informer.js';

export interface OpenWatch {
  path: string;
  query: Record<string, string | number | boolean | undefined>;
  send(phase: string, obj: KubernetesObject): void;
  /** The server ends the watch: null for a normal close (e.g. timeoutSeconds), else an error. */
  close(err?: unknown): void;
  closed: boolean;
}

export class FakeWatch implements WatchLike {
  readonly opened: OpenWatch[] = [];

  watch(path: string, query: Record<string, string | number | boolean | undefined>, callback: (phase: string, obj: KubernetesObject) => void, done: (err: unknown) => void): Promise<AbortController> {
    const ctrl = new AbortController();
    const w: OpenWatch = {
      path,
      query,
      closed: false,
      send: (phase, obj) => {
        if (!w.closed) callback(phase, obj);
      },
      close: (err = null) => {
        if (w.closed) return;
        w.closed = true;
        done(err);
      },
    };
    // Like client-node's Watch: aborting ends the request with an AbortError through done.
    ctrl.signal.addEventListener('abort', () => queueMicrotask(() => w.close(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }))));
    this.opened.push(w);
    return Promise.resolve(ctrl);
  }

  get last(): OpenWatch {
    const w = this.opened.at(-1);
    if (!w) throw new Error('no watch opened');
    return w;
  }

  get open(): OpenWatch[] {
    return this.opened.filter((w) => !w.closed);
  }
}

export function obj(name: string, rv: string, namespace = 'ns', extra: Record<string, unknown> = {}): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, resourceVersion: rv }, ...extra };
}

/** A LIST endpoint whose answers the test controls: immediate from `items`, or held until release(). */
export class FakeList {
  items: KubernetesObject[] = [];
  resourceVersion = '1';
  calls = 0;
  hold = false;
  fail?: Error;
  private held: (() => void)[] = [];

  async list(): Promise<{ items: KubernetesObject[]; resourceVersion: string }> {
    this.calls++;
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    if (this.fail) throw this.fail;
    return { items: this.items.map((o) => structuredClone(o)), resourceVersion: this.resourceVersion };
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

export const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};
