import https from 'node:https';
import http from 'node:http';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { ApiError, FencedError, type StatusDetails } from './errors.js';
import { encodeBody } from './applybody.js';
import { loadKubeConfig } from '../config/kubeconfig.js';
import { type ResourceType, knownResource, resourceOfPath, resourcePath } from './resources.js';
import { isUrgent } from './priority.js';
import type { Clock, TimerHandle } from '../util/clock.js';

export const FIELD_MANAGER = 'mizzen';

export interface ObjectList<T extends KubernetesObject = KubernetesObject> {
  items: T[];
  resourceVersion: string;
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  /** Not subject to writeGuard (the leader election's own Lease writes). */
  unfenced?: boolean;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * "0" serves the LIST from the API server's watch cache (any version, no quorum read of etcd); unset reads the
   * latest state from etcd. Informers list at "0", as client-go's reflector does.
   */
  resourceVersion?: string;
}

/** Client-side limit of request starts, shared by every request of one client (client-go's QPS and burst). */
export interface ClientRateLimit {
  /** Sustained requests per second; 0 or less disables the limit. */
  qps: number;
  /** Requests that may start at once after a quiet period. */
  burst: number;
}

/** High enough for 1,000 services to converge in seconds, low enough that a restart cannot flood the API server. */
export const DEFAULT_RATE_LIMIT: ClientRateLimit = { qps: 200, burst: 400 };

/** The process clock for the bucket: its timers keep the process alive while a request waits for a token. */
const bucketClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms));
    return { id: 0, timer } as TimerHandle;
  },
  clearTimeout(handle) {
    clearTimeout((handle as TimerHandle & { timer: ReturnType<typeof setTimeout> }).timer);
  },
};

/**
 * A token bucket: `take()` resolves when a request may start. A request starts at once while the bucket holds a
 * token and nobody waits; beyond the burst, waiting requests start at `qps`, urgent ones (see priority.ts: a
 * reconcile of a key added with priority, such as an endpoint change) before every bulk one, each class in the
 * order it came. The rate stays the limit whatever the mix: urgency changes only the order.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly limit: ClientRateLimit;
  private readonly urgentWaiting: { since: number; go: () => void }[] = [];
  private readonly bulkWaiting: { since: number; go: () => void }[] = [];
  private timer: TimerHandle | undefined;
  /** Requests that had to wait, and the total time they waited, bulk and urgent: for metrics and the bench. */
  readonly stats = { throttled: 0, waitedMs: 0, urgentThrottled: 0, urgentWaitedMs: 0 };

  constructor(
    limit: ClientRateLimit,
    private readonly clock: Clock = bucketClock,
  ) {
    this.limit = { qps: limit.qps, burst: Math.max(1, limit.burst) };
    this.tokens = this.limit.burst;
    this.last = clock.now();
  }

  /** Requests waiting for a token. */
  waiting(): number {
    return this.urgentWaiting.length + this.bulkWaiting.length;
  }

  /** Resolves when the request may start; `urgent` defaults to the context the caller runs in. */
  take(urgent = isUrgent()): Promise<void> {
    if (this.limit.qps <= 0) return Promise.resolve();
    this.refill();
    const ahead = urgent ? this.urgentWaiting.length : this.waiting();
    if (ahead === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    if (urgent) this.stats.urgentThrottled++;
    else this.stats.throttled++;
    return new Promise((resolve) => {
      const since = this.clock.now();
      const go = (): void => {
        const waited = this.clock.now() - since;
        if (urgent) this.stats.urgentWaitedMs += waited;
        else this.stats.waitedMs += waited;
        resolve();
      };
      (urgent ? this.urgentWaiting : this.bulkWaiting).push({ since, go });
      this.schedule();
    });
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.qps);
    this.last = now;
  }

  /** One timer for all waiters: due when the next token is. */
  private schedule(): void {
    if (this.timer !== undefined || this.waiting() === 0) return;
    const wait = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.limit.qps) * 1000);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.release();
    }, wait);
  }

  private release(): void {
    this.refill();
    while (this.tokens >= 1) {
      const next = this.urgentWaiting.shift() ?? this.bulkWaiting.shift();
      if (!next) break;
      this.tokens -= 1;
      next.go();
    }
    this.schedule();
  }
}

/** Called once per request with its verb, HTTP status (0: no answer), duration and resource (resourceOfPath). */
export type RequestObserver = (verb: string, status: number, ms: number, resource: string) => void;

/**
 * A small JSON client over the API server's REST interface. Objects stay plain JSON (the same shape the
 * watch stream delivers), unlike client-node's typed APIs, which turn timestamps into Dates on LIST but not
 * on WATCH. TLS and credentials come from client-node's KubeConfig; connections are kept alive.
 */
export class KubeClient {
  private readonly agent: https.Agent | http.Agent;
  private readonly discovery = new Map<string, Promise<ResourceType[]>>();
  readonly server: string;
  readonly limiter: TokenBucket;
  observer: RequestObserver = () => undefined;
  /**
   * Consulted before every write (any method but GET): a reason to refuse it, or undefined. The manager sets it
   * so that a process that does not hold the leader Lease (any more) cannot write, whatever is still running.
   */
  writeGuard?: () => string | undefined;

  private constructor(
    readonly kubeConfig: KubeConfig,
    tls: https.AgentOptions,
    readonly fieldManager: string,
    rateLimit: ClientRateLimit,
  ) {
    this.limiter = new TokenBucket(rateLimit);
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('The kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/$/, '');
    this.agent = this.server.startsWith('https:')
      ? new https.Agent({ ...tls, keepAlive: true, maxSockets: 32 })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  static async create(kubeConfig: KubeConfig, fieldManager = FIELD_MANAGER, rateLimit: ClientRateLimit = DEFAULT_RATE_LIMIT): Promise<KubeClient> {
    const opts: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(opts);
    const tls: https.AgentOptions = { ca: opts.ca, cert: opts.cert, key: opts.key, servername: opts.servername };
    if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized;
    return new KubeClient(kubeConfig, tls, fieldManager, rateLimit);
  }

  /**
   * Loads a kubeconfig file, or the KUBECONFIG list / ~/.kube/config / the in-cluster config when no path is
   * given, as kubectl does; a problem is a ConfigError of one line (see loadKubeConfig).
   */
  static loadConfig(path?: string): KubeConfig {
    return loadKubeConfig(path).kc;
  }

  close(): void {
    this.agent.destroy();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (method !== 'GET' && !opts.unfenced && this.writeGuard) {
      const refused = this.writeGuard();
      if (refused) throw new FencedError(`${method} ${path} refused: ${refused}`);
    }
    await this.limiter.take();
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const auth: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(auth);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'mizzen' };
    for (const [k, v] of Object.entries(auth.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = encodeBody(opts.body, opts.contentType);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const started = performance.now();
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: this.agent, auth: auth.auth, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          this.observer(method, status, performance.now() - started, resourceOfPath(path));
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          if (status >= 200 && status < 300) resolve(body as T);
          else reject(toApiError(status, body, method, path));
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`${method} ${path} timed out`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => {
        this.observer(method, 0, performance.now() - started, resourceOfPath(path));
        reject(err);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** The resource type of apiVersion/kind: from the static table, else from discovery (cached per group version). */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceType> {
    const known = knownResource(apiVersion, kind);
    if (known) return known;
    let pending = this.discovery.get(apiVersion);
    if (!pending) {
      pending = this.discover(apiVersion);
      this.discovery.set(apiVersion, pending);
      pending.catch(() => this.discovery.delete(apiVersion));
    }
    const found = (await pending).find((t) => t.kind === kind);
    if (found) return found;
    this.discovery.delete(apiVersion);
    throw new ApiError(404, 'NotFound', `The server has no resource of kind ${kind} in ${apiVersion}`);
  }

  private async discover(apiVersion: string): Promise<ResourceType[]> {
    const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await this.request<{ resources: { name: string; kind: string; namespaced: boolean }[] }>('GET', path);
    return list.resources
      .filter((r) => !r.name.includes('/'))
      .map((r) => ({ apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced }));
  }

  async get<T extends KubernetesObject>(t: ResourceType, name: string, namespace?: string): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(t, namespace, name));
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubernetesObject>(t: ResourceType, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const list = await this.request<{ items: T[] | null; metadata?: { resourceVersion?: string } }>('GET', resourcePath(t, opts.namespace), {
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion: opts.resourceVersion },
    });
    // The items of a LIST carry no apiVersion and kind; they are set in place (the list is ours alone).
    const items = list.items ?? [];
    for (const o of items) {
      o.apiVersion = t.apiVersion;
      o.kind = t.kind;
    }
    return { items, resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async create<T extends KubernetesObject>(obj: T): Promise<T> {
    const t = await this.resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    return this.request<T>('POST', resourcePath(t, obj.metadata?.namespace), { body: obj, query: { fieldManager: this.fieldManager } });
  }

  /** Server-side apply with this client's field manager; force takes ownership of conflicting fields. */
  async apply<T extends KubernetesObject>(obj: T, opts: { force?: boolean; dryRun?: boolean; subresource?: string } = {}): Promise<T> {
    const t = await this.resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    const name = obj.metadata?.name;
    if (!name) throw new ApiError(422, 'Invalid', `Cannot apply a ${obj.kind} without metadata.name`);
    return this.request<T>('PATCH', resourcePath(t, obj.metadata?.namespace, name, opts.subresource), {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: {
        fieldManager: this.fieldManager,
        force: opts.force === false ? undefined : 'true',
        dryRun: opts.dryRun ? 'All' : undefined,
      },
    });
  }

  /** A JSON merge patch (application/merge-patch+json), e.g. for finalizers or a status subresource. */
  async mergePatch<T extends KubernetesObject>(t: ResourceType, name: string, namespace: string | undefined, patch: unknown, subresource?: string): Promise<T> {
    return this.request<T>('PATCH', resourcePath(t, namespace, name, subresource), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: this.fieldManager },
    });
  }

  async replace<T extends KubernetesObject>(t: ResourceType, obj: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(t, obj.metadata?.namespace, obj.metadata?.name), { body: obj, query: { fieldManager: this.fieldManager } });
  }

  /** Deletes an object; a missing object is not an error. Returns whether something was deleted. */
  async delete(t: ResourceType, name: string, namespace?: string, opts: { uid?: string; propagationPolicy?: string } = {}): Promise<boolean> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy ?? 'Background' };
    if (opts.uid) body.preconditions = { uid: opts.uid };
    try {
      await this.request('DELETE', resourcePath(t, namespace, name), { body });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return false;
      throw err;
    }
  }
}

function toApiError(status: number, body: unknown, method: string, path: string): ApiError {
  const s = (typeof body === 'object' && body !== null ? body : {}) as { reason?: string; message?: string; details?: StatusDetails };
  const message = s.message ?? (typeof body === 'string' && body ? body.slice(0, 300) : `${method} ${path} failed with HTTP ${status}`);
  return new ApiError(status, s.reason ?? String(status), message, s.details);
}
