// The operator's identity as the Helm chart installs it: the chart's ServiceAccount, ClusterRole, Role and bindings
// rendered by `helm template`, applied to a cluster, and a kubeconfig carrying a token of that ServiceAccount
// (TokenRequest), so that a test runs the operator process with exactly the chart's RBAC instead of the admin's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import { kubectl, repoRoot } from './cluster.js';
import { helm } from './helm.js';
import type { OperatorProcess } from './operator.js';

const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export interface ChartIdentity {
  /** A kubeconfig for the chart's ServiceAccount (same server and CA as the admin kubeconfig). */
  kubeconfig: string;
  /** The token in it (to search logs for). */
  token: string;
  /** Removes the RBAC objects this call created (not those that were there before) and the kubeconfig file. */
  remove(): Promise<void>;
}

/** The chart's RBAC objects for a release in `namespace` (no hooks: the uninstall Job has its own identity). */
export async function chartRbac(namespace: string): Promise<KubernetesObject[]> {
  const out = await helm(['template', 'mizzen', path.join(repoRoot, 'charts/mizzen'), '--namespace', namespace, '--set', 'crds.install=false', '--set', 'uninstall.mode=none']);
  return YAML.parseAllDocuments(out)
    .map((d) => d.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => !!o && RBAC_KINDS.has(o.kind ?? '') && !o.metadata?.annotations?.['helm.sh/hook']);
}

function key(o: KubernetesObject): string {
  return `${o.kind ?? ''}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/**
 * Applies the chart's RBAC for a release in `namespace` to the cluster of `adminKubeconfig` and returns a kubeconfig
 * with a token of the chart's ServiceAccount, valid for `hours`.
 */
export async function chartIdentity(adminKubeconfig: string, namespace = 'mizzen-system', hours = 4): Promise<ChartIdentity> {
  await kubectl(adminKubeconfig, ['create', 'namespace', namespace]).catch(() => undefined);
  const objs = await chartRbac(namespace);
  const existing = new Set<string>();
  for (const o of objs) {
    const ns = o.metadata?.namespace ? ['-n', o.metadata.namespace] : [];
    const found = await kubectl(adminKubeconfig, ['get', o.kind!.toLowerCase(), o.metadata!.name!, ...ns, '--ignore-not-found', '-o', 'name']);
    if (found.trim()) existing.add(key(o));
  }
  await kubectl(adminKubeconfig, ['apply', '--server-side', '--force-conflicts', '--field-manager', 'mizzen-e2e-rbac', '-f', '-'], objs.map((o) => YAML.stringify(o)).join('---\n'));
  const sa = objs.find((o) => o.kind === 'ServiceAccount');
  if (!sa) throw new Error('the chart renders no ServiceAccount');
  const token = (await kubectl(adminKubeconfig, ['create', 'token', sa.metadata!.name!, '-n', namespace, '--duration', `${hours}h`])).trim();
  const admin = YAML.parse(await kubectl(adminKubeconfig, ['config', 'view', '--raw', '--minify', '-o', 'yaml'])) as { clusters: { cluster: Record<string, unknown> }[] };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-sa-')), 'kubeconfig');
  fs.writeFileSync(
    file,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: admin.clusters[0]!.cluster }],
      users: [{ name: sa.metadata!.name, user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: sa.metadata!.name, namespace } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return {
    kubeconfig: file,
    token,
    async remove() {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      for (const o of objs.filter((x) => !existing.has(key(x)))) {
        const ns = o.metadata?.namespace ? ['-n', o.metadata.namespace] : [];
        await kubectl(adminKubeconfig, ['delete', o.kind!.toLowerCase(), o.metadata!.name!, ...ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
      }
    },
  };
}

/** The operator's API requests answered 401 or 403 (mizzen_api_requests_total by code), by verb. */
export async function refusedRequests(op: OperatorProcess): Promise<Record<string, number>> {
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

/** The operator's API requests answered 401 or 403, in all. */
export async function refusedTotal(op: OperatorProcess): Promise<number> {
  return Object.values(await refusedRequests(op)).reduce((a, b) => a + b, 0);
}

/** Log lines that tell of a request an API server refused (forbidden / unauthorized), from any client. */
export function refusedInLogs(logs: readonly Record<string, unknown>[]): string[] {
  return logs.map((l) => JSON.stringify(l)).filter((s) => /forbidden|unauthorized|"(code|statusCode|status)":\s*40[13]\b/i.test(s));
}
