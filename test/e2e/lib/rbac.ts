// Identities with exactly the RBAC mizzen installs, for tests that run mizzen's processes outside the cluster: a
// ServiceAccount and its roles and bindings applied to a cluster as they are rendered, and a kubeconfig carrying a
// token of that ServiceAccount (TokenRequest), so that a process runs with exactly that RBAC instead of the admin's.
//  - the operator: the Helm chart's ServiceAccount, ClusterRole, Role and bindings, rendered by `helm template`;
//  - the node agent: the istio-cni ServiceAccount, ClusterRole and binding that the operator renders for an
//    IstioOperator enabling the cni component (the rules follow values.cni.repair), rendered by the same render().
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { render, type IstioOperator } from '../../../operator/src/render/index.js';
import { COMPONENT_LABEL } from '../../../operator/src/render/labels.js';
import { kubectl, repoRoot, waitFor } from './cluster.js';
import { helm } from './helm.js';

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export interface Identity {
  /** A kubeconfig for the ServiceAccount (same server and CA as the admin kubeconfig). */
  kubeconfig: string;
  /** The token in it (to search logs for). */
  token: string;
  /**
   * Applies the RBAC objects of the same ServiceAccount again, changed (a role whose rules follow a new
   * configuration), and waits until the API server grants what they say.
   */
  update(objs: readonly KubernetesObject[]): Promise<void>;
  /** Removes the RBAC objects this identity created (not those that were there before) and the kubeconfig file. */
  remove(): Promise<void>;
}

/** The operator's identity as the Helm chart installs it. */
export type ChartIdentity = Identity;

function rbacOnly(objs: readonly (KubernetesObject | null)[]): KubernetesObject[] {
  return objs.filter((o): o is KubernetesObject => !!o && RBAC_KINDS.has(o.kind ?? '') && !o.metadata?.annotations?.['helm.sh/hook']);
}

/** The chart's RBAC objects for a release in `namespace` (no hooks: the uninstall Job has its own identity). */
export async function chartRbac(namespace: string): Promise<KubernetesObject[]> {
  const out = await helm(['template', 'mizzen', path.join(repoRoot, 'charts/mizzen'), '--namespace', namespace, '--set', 'crds.install=false', '--set', 'uninstall.mode=none']);
  return rbacOnly(YAML.parseAllDocuments(out).map((d) => d.toJSON() as KubernetesObject | null));
}

/**
 * The node agent's RBAC objects as the operator renders them for an IstioOperator that enables the cni component:
 * its ServiceAccount, ClusterRole(s) and bindings, nothing else.
 */
export function agentRbac(iop: IstioOperator): KubernetesObject[] {
  const objs = render(iop).objects as KubernetesObject[];
  return rbacOnly(objs.filter((o) => o.metadata?.labels?.[COMPONENT_LABEL] === 'Cni'));
}

function key(o: KubernetesObject): string {
  return `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

interface ResourceRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

/** What of `wanted` `granted` (a SelfSubjectRulesReview's resourceRules) does not cover: "verb group/resource" each. */
function rulesCover(granted: readonly ResourceRule[], wanted: readonly ResourceRule[]): string[] {
  const has = (list: readonly string[] | undefined, x: string): boolean => !!list && (list.includes(x) || list.includes('*'));
  const missing: string[] = [];
  for (const w of wanted) {
    const triples = (w.apiGroups ?? ['']).flatMap((g) => (w.resources ?? []).flatMap((r) => (w.verbs ?? []).map((v) => [g, r, v] as const)));
    for (const [g, r, v] of triples) {
      if (!granted.some((x) => !x.resourceNames?.length && has(x.apiGroups, g) && has(x.resources, r) && has(x.verbs, v))) missing.push(`${v} ${g ? `${g}/` : ''}${r}`);
    }
  }
  return missing;
}

/**
 * Applies RBAC objects (one ServiceAccount among them) to the cluster of `adminKubeconfig` and returns a
 * kubeconfig with a token of that ServiceAccount, valid for `hours`. Resolves once the API server grants the
 * ServiceAccount every rule of its roles (its RBAC caches follow the objects with a delay), so that the first
 * request of a process started right after is not refused.
 */
export async function identityOf(adminKubeconfig: string, objs: readonly KubernetesObject[], hours = 4): Promise<Identity> {
  const sa = objs.find((o) => o.kind === 'ServiceAccount');
  if (!sa) throw new Error('the RBAC objects hold no ServiceAccount');
  const saName = sa.metadata!.name!;
  const saNamespace = sa.metadata!.namespace!;
  /** Objects this identity applied that did not exist before: the ones remove() deletes. */
  const created = new Map<string, KubernetesObject>();
  const seen = new Set<string>();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-sa-'));
  const file = path.join(dir, 'kubeconfig');

  async function apply(next: readonly KubernetesObject[]): Promise<void> {
    const unseen = next.filter((o) => !seen.has(key(o)));
    if (unseen.length) {
      // One GET for all of them: a List (or the one object) of those that exist.
      const out = await kubectl(adminKubeconfig, ['get', '-f', '-', '--ignore-not-found', '-o', 'json'], unseen.map((o) => YAML.stringify(o)).join('---\n'));
      const found = out.trim() ? (JSON.parse(out) as KubernetesObject & { items?: KubernetesObject[] }) : undefined;
      const existing = new Set((found ? (found.items ?? [found]) : []).map(key));
      for (const o of unseen) {
        seen.add(key(o));
        if (!existing.has(key(o))) created.set(key(o), o);
      }
    }
    await kubectl(adminKubeconfig, ['apply', '--server-side', '--force-conflicts', '--field-manager', 'mizzen-e2e-rbac', '-f', '-'], next.map((o) => YAML.stringify(o)).join('---\n'));
  }

  async function granted(next: readonly KubernetesObject[]): Promise<void> {
    const wanted = next.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) => (o as KubernetesObject & { rules?: ResourceRule[] }).rules ?? []);
    let missing: string[] = [];
    await waitFor(
      `the API server to grant ServiceAccount ${saNamespace}/${saName} its rules`,
      async () => {
        const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: saNamespace } };
        const out = JSON.parse(await kubectl(file, ['create', '--validate=false', '-f', '-', '-o', 'json'], JSON.stringify(review))) as { status?: { resourceRules?: ResourceRule[] } };
        missing = rulesCover(out.status?.resourceRules ?? [], wanted);
        return missing.length === 0;
      },
      30_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; not granted: ${missing.join(', ')}`);
    });
  }

  async function remove(): Promise<void> {
    fs.rmSync(dir, { recursive: true, force: true });
    if (created.size === 0) return;
    await kubectl(adminKubeconfig, ['delete', '-f', '-', '--ignore-not-found', '--wait=false'], [...created.values()].map((o) => YAML.stringify(o)).join('---\n')).catch(() => undefined);
  }

  let token: string;
  try {
    await apply(objs);
    token = (await kubectl(adminKubeconfig, ['create', 'token', saName, '-n', saNamespace, '--duration', `${hours}h`])).trim();
    const admin = YAML.parse(await kubectl(adminKubeconfig, ['config', 'view', '--raw', '--minify', '-o', 'yaml'])) as { clusters: { cluster: Record<string, unknown> }[] };
    fs.writeFileSync(
      file,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: admin.clusters[0]!.cluster }],
        users: [{ name: saName, user: { token } }],
        contexts: [{ name: 'sa', context: { cluster: 'c', user: saName, namespace: saNamespace } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );
    await granted(objs);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    kubeconfig: file,
    token,
    async update(next) {
      if (next.some((o) => o.kind === 'ServiceAccount' && key(o) !== key(sa))) throw new Error(`update() keeps ServiceAccount ${saNamespace}/${saName}`);
      await apply(next);
      await granted(next);
    },
    remove,
  };
}

/** The operator's identity as the Helm chart installs it, for a release in `namespace` (created if missing). */
export async function chartIdentity(adminKubeconfig: string, namespace = 'mizzen-system', hours = 4): Promise<ChartIdentity> {
  await kubectl(adminKubeconfig, ['create', 'namespace', namespace]).catch(() => undefined);
  return identityOf(adminKubeconfig, await chartRbac(namespace), hours);
}

/** The node agent's identity as the operator installs it for `iop` (its namespace must exist). */
export async function agentIdentity(adminKubeconfig: string, iop: IstioOperator, hours = 4): Promise<Identity> {
  return identityOf(adminKubeconfig, agentRbac(iop), hours);
}

/** A process that serves mizzen's /metrics: the operator or the node agent. */
interface MetricsServer {
  readonly probeUrl: string;
}

/** A process's API requests answered 401 or 403 (mizzen_api_requests_total by code), by verb. */
export async function refusedRequests(op: MetricsServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${op.probeUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const l of text.split('\n')) {
    if (!l.startsWith('mizzen_api_requests_total{')) continue;
    const verb = /verb="([^"]+)"/.exec(l)?.[1];
    const code = /code="([^"]+)"/.exec(l)?.[1];
    const n = Number(l.split(' ').pop());
    if ((code === '401' || code === '403') && n > 0) out[`${verb ?? '?'} ${code}`] = (out[`${verb ?? '?'} ${code}`] ?? 0) + n;
  }
  return out;
}

/** Log lines that carry the token, in clear or base64. */
export function tokenInLogs(logs: readonly Record<string, unknown>[], token: string): string[] {
  const needles = [token, Buffer.from(token).toString('base64')];
  return logs.map((l) => JSON.stringify(l)).filter((s) => needles.some((n) => s.includes(n)));
}

/** A process's API requests answered 401 or 403, in all. */
export async function refusedTotal(op: MetricsServer): Promise<number> {
  return Object.values(await refusedRequests(op)).reduce((a, b) => a + b, 0);
}

/** Log lines that tell of a request an API server refused (forbidden / unauthorized), from any client. */
export function refusedInLogs(logs: readonly Record<string, unknown>[]): string[] {
  return logs.map((l) => JSON.stringify(l)).filter((s) => /forbidden|unauthorized|"(code|statusCode|status)":\s*40[13]\b/i.test(s));
}
