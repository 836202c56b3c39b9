// Which network namespace belongs to which pod. Two sources:
//  - ADD requests: the runtime tells the plugin (CNI_NETNS, CNI_ARGS K8S_POD_*), the agent records it;
//  - the CNI result cache that libcni keeps for every attachment (<cacheDir>/results/<net>-<container>-<if>,
//    written by containerd, CRI-O and cnitool after a successful ADD, with the netns and the CNI_ARGS), which
//    also covers pods whose sandbox was set up before our plugin was in the chain — the ones repair is for.
// Netns paths arrive as host paths; the agent may see the host's /var/run/netns elsewhere (--netns-dir).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { RuleSet } from '../iptables/index.js';
import type { PodRef } from './protocol.js';

/** Host directories where runtimes create named network namespaces. */
export const HOST_NETNS_DIRS = ['/var/run/netns', '/run/netns'];

export interface CacheEntry {
  readonly containerId: string;
  readonly ifName: string;
  readonly networkName: string;
  /** As the runtime passed it (host path). */
  readonly netns: string;
  readonly pod?: PodRef;
  /** Addresses of the cached result (CIDR notation). */
  readonly ips: readonly string[];
  /**
   * The plugin types of the configuration the runtime ran (libcni keeps it with the result), in order; undefined
   * when the entry has none it can read.
   */
  readonly chain?: readonly string[];
}

/** The plugin types of a cached network configuration (base64 of a conflist or a single conf). Pure. */
export function cachedChain(config: unknown): string[] | undefined {
  if (typeof config !== 'string' || config === '') return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(config, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { plugins, type } = doc as { plugins?: unknown; type?: unknown };
  if (Array.isArray(plugins)) {
    const types = plugins.map((p) => (typeof p === 'object' && p !== null ? (p as { type?: unknown }).type : undefined));
    return types.every((t): t is string => typeof t === 'string') ? types : undefined;
  }
  return typeof type === 'string' ? [type] : undefined;
}

function pairs(v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(v)) return out;
  for (const p of v) if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string') out.set(p[0], p[1]);
  return out;
}

/** One libcni cache file (kind cniCacheV1); undefined when it is not one. Pure. */
export function parseCacheEntry(text: string): CacheEntry | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || doc.kind !== 'cniCacheV1') return undefined;
  const str = (k: string): string => {
    const v = doc[k];
    return typeof v === 'string' ? v : '';
  };
  if (str('netns') === '' || str('containerId') === '') return undefined;
  const args = pairs(doc.cniArgs);
  const namespace = args.get('K8S_POD_NAMESPACE');
  const name = args.get('K8S_POD_NAME');
  const uid = args.get('K8S_POD_UID');
  const result = doc.result as { ips?: { address?: unknown }[] } | undefined;
  const ips = (Array.isArray(result?.ips) ? result.ips : []).map((i) => i.address).filter((a): a is string => typeof a === 'string');
  const chain = cachedChain(doc.config);
  return {
    containerId: str('containerId'),
    ifName: str('ifName'),
    networkName: str('networkName'),
    netns: str('netns'),
    ...(namespace && name ? { pod: uid ? { namespace, name, uid } : { namespace, name } } : {}),
    ips,
    ...(chain ? { chain } : {}),
  };
}

/** Where the agent sees a netns the runtime named by its host path. Pure. */
export function agentNetnsPath(hostPath: string, netnsDir: string): string {
  for (const dir of HOST_NETNS_DIRS) {
    if (hostPath.startsWith(`${dir}/`)) return path.join(netnsDir, hostPath.slice(dir.length + 1));
  }
  return hostPath;
}

export interface Attachment {
  readonly pod: PodRef;
  readonly containerId: string;
  /** The netns as the agent sees it. */
  readonly netns: string;
  readonly ips: readonly string[];
  /** The rule set this agent process applied, if it did. */
  readonly ruleSet?: RuleSet;
  readonly source: 'add' | 'cache';
  /** When the runtime finished setting it up (the cache file's mtime, epoch ms); unknown for ADD records. */
  readonly attachedAt?: number;
  /** The plugin types the runtime ran for it (from the cache), when known. */
  readonly chain?: readonly string[];
}

const podKey = (p: PodRef): string => `${p.namespace}/${p.name}`;

export class NetnsIndex {
  private readonly tracked = new Map<string, Attachment>();
  private cached = new Map<string, Attachment[]>();
  private scannedAt = -Infinity;
  private scanning?: Promise<void>;

  constructor(
    private readonly cacheDir: string,
    private readonly netnsDir: string,
    private readonly minRescanMs = 1000,
  ) {}

  agentPath(hostPath: string): string {
    return agentNetnsPath(hostPath, this.netnsDir);
  }

  /** Records what this agent programmed (ADD, repair). */
  record(att: Attachment): void {
    this.tracked.set(podKey(att.pod), att);
  }

  /** Forgets the attachment of a container (DEL). Returns it. */
  forgetContainer(containerId: string): Attachment | undefined {
    for (const [k, a] of this.tracked) {
      if (a.containerId === containerId) {
        this.tracked.delete(k);
        return a;
      }
    }
    return undefined;
  }

  /**
   * Whether this netns may already have rules: this agent programmed the container or the netns, or libcni
   * has a cached result for the attachment (written after a successful ADD of the whole chain, so a repeated
   * ADD after an agent restart is known too). A first ADD of a new sandbox is neither.
   */
  seen(containerId: string, netns: string, network: string | undefined, ifName: string): boolean {
    for (const a of this.tracked.values()) if (a.containerId === containerId || a.netns === netns) return true;
    if (network !== undefined && network !== '') return fs.existsSync(path.join(this.cacheDir, 'results', `${network}-${containerId}-${ifName}`));
    for (const list of this.cached.values()) if (list.some((a) => a.containerId === containerId || a.netns === netns)) return true;
    return false;
  }

  /** Every netns this agent knows of: the ones it programmed and the ones of libcni's last scanned results. */
  knownNetns(): string[] {
    const out = new Set<string>();
    for (const a of this.tracked.values()) out.add(a.netns);
    for (const list of this.cached.values()) for (const a of list) out.add(a.netns);
    return [...out];
  }

  forgetPod(pod: PodRef): void {
    this.tracked.delete(podKey(pod));
  }

  trackedFor(pod: PodRef): Attachment | undefined {
    const a = this.tracked.get(podKey(pod));
    return a && (pod.uid === undefined || a.pod.uid === undefined || a.pod.uid === pod.uid) ? a : undefined;
  }

  /** The pod's attachment whose netns exists: one this agent programmed, else one from the CNI cache. */
  async lookup(pod: PodRef): Promise<Attachment | undefined> {
    const t = this.trackedFor(pod);
    if (t !== undefined && fs.existsSync(t.netns)) return t;
    await this.rescan();
    const candidates = (this.cached.get(podKey(pod)) ?? []).filter((a) => pod.uid === undefined || a.pod.uid === undefined || a.pod.uid === pod.uid);
    return candidates.find((a) => fs.existsSync(a.netns));
  }

  /** Re-reads the CNI cache if the last read is older than minRescanMs. */
  rescan(force = false): Promise<void> {
    if (!force && performance.now() - this.scannedAt < this.minRescanMs) return Promise.resolve();
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scan(): Promise<void> {
    const dir = path.join(this.cacheDir, 'results');
    const next = new Map<string, Attachment[]>();
    // No cache directory yet: nothing was ever attached on this node.
    const names = await fsp.readdir(dir).catch((): string[] => []);
    for (const name of names) {
      let text: string;
      let attachedAt: number;
      try {
        const file = path.join(dir, name);
        attachedAt = (await fsp.stat(file)).mtimeMs;
        text = await fsp.readFile(file, 'utf8');
      } catch {
        continue;
      }
      const e = parseCacheEntry(text);
      if (e?.pod === undefined) continue;
      const att: Attachment = { pod: e.pod, containerId: e.containerId, netns: this.agentPath(e.netns), ips: e.ips, source: 'cache', attachedAt, ...(e.chain ? { chain: e.chain } : {}) };
      const list = next.get(podKey(e.pod)) ?? [];
      list.push(att);
      next.set(podKey(e.pod), list);
    }
    this.cached = next;
    this.scannedAt = performance.now();
  }
}
