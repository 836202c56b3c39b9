// Where the API server's address and credentials come from, resolved as kubectl resolves them, and the
// start-up problems around them explained in one line each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { KubeConfig } from '../kube/client-node.js';
import { ConfigError } from './index.js';

export interface LoadedKubeConfig {
  kc: KubeConfig;
  /** Where it came from, for messages: "--kubeconfig /x", "KUBECONFIG=/a:/b", "~/.kube/config", "in-cluster". */
  source: string;
}

const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

function readOne(file: string, origin: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message.split('\n')[0];
    throw new ConfigError(`cannot read kubeconfig ${file} (from ${origin}): ${why}`);
  }
  return kc;
}

/**
 * kubectl's merge of a KUBECONFIG list: files that do not exist are skipped, the first file to name a cluster,
 * user or context wins it, and the first file that sets current-context decides it.
 */
function mergeList(files: string[], origin: string): KubeConfig {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = '';
  let found = 0;
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    found++;
    const kc = readOne(file, origin);
    for (const c of kc.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of kc.getUsers()) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of kc.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!currentContext && kc.getCurrentContext()) currentContext = kc.getCurrentContext();
  }
  if (found === 0) throw new ConfigError(`no kubeconfig: none of the files in ${origin} exists`);
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
  return kc;
}

/** A loaded kubeconfig must name a current context whose cluster exists and has an http(s) server. */
function check(kc: KubeConfig, source: string): void {
  const name = kc.getCurrentContext();
  if (!name) throw new ConfigError(`the kubeconfig (${source}) sets no current-context; run \`kubectl config use-context NAME\` or pass another --kubeconfig`);
  const ctx = kc.getContextObject(name);
  if (!ctx) throw new ConfigError(`the kubeconfig (${source}) names current-context "${name}", which it does not define`);
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster) throw new ConfigError(`the kubeconfig (${source}): context "${name}" names cluster "${ctx.cluster}", which it does not define`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new ConfigError(`the kubeconfig (${source}): cluster "${cluster.name}" has no valid server URL (got "${cluster.server}")`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`the kubeconfig (${source}): cluster "${cluster.name}" server must be an https:// URL (got "${cluster.server}")`);
  }
  if (ctx.user && !kc.getUser(ctx.user)) throw new ConfigError(`the kubeconfig (${source}): context "${name}" names user "${ctx.user}", which it does not define`);
}

/**
 * The kubeconfig as kubectl finds it: --kubeconfig (which must exist), else every file of the KUBECONFIG list
 * merged, else ~/.kube/config, else the pod's service account. Anything wrong is a ConfigError of one line.
 */
export function loadKubeConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): LoadedKubeConfig {
  let kc: KubeConfig;
  let source: string;
  if (explicit) {
    source = `--kubeconfig ${explicit}`;
    if (!fs.existsSync(explicit)) throw new ConfigError(`kubeconfig ${explicit} (from --kubeconfig) does not exist`);
    kc = readOne(explicit, '--kubeconfig');
  } else if (env.KUBECONFIG) {
    source = `KUBECONFIG=${env.KUBECONFIG}`;
    const files = [...new Set(env.KUBECONFIG.split(path.delimiter).filter(Boolean))];
    kc = mergeList(files, `KUBECONFIG=${env.KUBECONFIG}`);
  } else if (home && fs.existsSync(path.join(home, '.kube', 'config'))) {
    source = '~/.kube/config';
    kc = readOne(path.join(home, '.kube', 'config'), '~/.kube/config');
  } else if (env.KUBERNETES_SERVICE_HOST && fs.existsSync(TOKEN_PATH)) {
    source = 'in-cluster service account';
    kc = new KubeConfig();
    kc.loadFromCluster();
  } else {
    throw new ConfigError('no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account');
  }
  check(kc, source);
  return { kc, source };
}

const networkCodes: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
};

/** The one line explaining why the API server could not be used at start-up, or undefined for other errors. */
export function describeConnectError(err: unknown, server: string, source: string): string | undefined {
  const e = err as { code?: unknown; message?: unknown; statusCode?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message.split('\n')[0] : String(err);
  if (networkCodes[code]) return `cannot reach the API server ${server} (${networkCodes[code]}; kubeconfig: ${source}); is the cluster running and the address right?`;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code)) {
    return `TLS with the API server ${server} failed: ${message} (${code}); check the cluster's certificate-authority in the kubeconfig (${source})`;
  }
  if (e.statusCode === 401) return `the API server ${server} refused the credentials of the kubeconfig (${source}): 401 Unauthorized`;
  return undefined;
}

/** The one line for a probe address that cannot be listened on. */
export function describeListenError(err: unknown, flag: string, address: string): string | undefined {
  const code = (err as { code?: unknown }).code;
  if (code === 'EADDRINUSE') return `${flag} ${address}: the address is already in use by another process; stop it or choose another address`;
  if (code === 'EACCES') return `${flag} ${address}: permission denied (ports below 1024 need privileges)`;
  if (code === 'EADDRNOTAVAIL') return `${flag} ${address}: no such local address`;
  return undefined;
}
