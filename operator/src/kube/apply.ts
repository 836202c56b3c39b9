import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER, type KubeClient } from './client.js';
import type { ResourceType } from './resources.js';

export interface ApplyOutcome {
  object: KubernetesObject;
  /** False when the server kept the object as it was (same resourceVersion): an idempotent no-op. */
  changed: boolean;
}

export function describeObject(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return `${obj.kind ?? '?'} ${ns ? `${ns}/` : ''}${obj.metadata?.name ?? '?'}`;
}

/**
 * Server-side applies each object with the client's field manager. The API server makes an unchanged
 * apply a no-op that does not bump resourceVersion; `live` gives the resourceVersions seen before (e.g.
 * from an informer cache) so the outcome says which objects really changed.
 */
export async function applyAll(
  client: KubeClient,
  objects: readonly KubernetesObject[],
  live: (obj: KubernetesObject) => KubernetesObject | undefined = () => undefined,
): Promise<ApplyOutcome[]> {
  const out: ApplyOutcome[] = [];
  for (const obj of objects) {
    const before = live(obj)?.metadata?.resourceVersion;
    const applied = await client.apply(stripServerFields(obj));
    out.push({ object: applied, changed: applied.metadata?.resourceVersion !== before });
  }
  return out;
}

/** Fields the server owns; sending them in an apply configuration is an error or a conflict. */
export function stripServerFields<T extends KubernetesObject>(obj: T): T {
  const md = { ...(obj.metadata ?? {}) };
  delete md.resourceVersion;
  delete md.uid;
  delete md.creationTimestamp;
  delete md.generation;
  delete md.managedFields;
  delete md.selfLink;
  return { ...obj, metadata: md };
}

export interface PruneScope {
  /** Kinds that may hold objects owned by the root. */
  types: readonly ResourceType[];
  /** Label selector matching everything the root owns. */
  labelSelector: string;
}

/**
 * Whether our field manager applied this object. Owner labels alone are not proof: the endpoints controller
 * copies a Service's labels onto the Endpoints it creates, and those are not ours to prune.
 */
export function appliedByUs(obj: KubernetesObject, manager = FIELD_MANAGER): boolean {
  return (obj.metadata?.managedFields ?? []).some((f) => f.manager === manager && f.operation === 'Apply');
}

export function identity(obj: KubernetesObject): string {
  return `${obj.apiVersion ?? ''}|${obj.kind ?? ''}|${obj.metadata?.namespace ?? ''}|${obj.metadata?.name ?? ''}`;
}

/**
 * Finds the objects the root owns (by owner labels) that are not in `desired`. Lists go to the API server;
 * any failed list throws, so an unreadable kind never looks empty and nothing is deleted on a guess.
 */
export async function findOrphans(client: KubeClient, desired: readonly KubernetesObject[], scope: PruneScope): Promise<KubernetesObject[]> {
  const keep = new Set(desired.map(identity));
  const orphans: KubernetesObject[] = [];
  for (const t of scope.types) {
    const list = await client.list(t, { labelSelector: scope.labelSelector });
    for (const obj of list.items) {
      if (appliedByUs(obj, client.fieldManager) && !keep.has(identity(obj)) && !obj.metadata?.deletionTimestamp) orphans.push(obj);
    }
  }
  return orphans;
}

/** Deletes the orphans (with a uid precondition so a re-created namesake is never hit). */
export async function prune(client: KubeClient, desired: readonly KubernetesObject[], scope: PruneScope): Promise<KubernetesObject[]> {
  const orphans = await findOrphans(client, desired, scope);
  for (const obj of orphans) {
    const t = scope.types.find((x) => x.kind === obj.kind && x.apiVersion === obj.apiVersion);
    if (!t) continue;
    await client.delete(t, obj.metadata?.name ?? '', obj.metadata?.namespace, { uid: obj.metadata?.uid });
  }
  return orphans;
}
