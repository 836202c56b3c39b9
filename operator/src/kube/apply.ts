import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER, type KubeClient } from './client.js';
import type { ResourceType } from './resources.js';

export function describeObject(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return `${obj.kind ?? '?'} ${ns ? `${ns}/` : ''}${obj.metadata?.name ?? '?'}`;
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

/**
 * Set on what a controller applies: the sha256 of the applied content (without this annotation). A live object
 * whose annotation equals the hash of what is desired now has been applied with that content already, by this
 * process or an earlier one: a restart need not apply it again.
 */
export const APPLIED_HASH_ANNOTATION = 'mizzen.io/applied-hash';

/** The object with its content hash in APPLIED_HASH_ANNOTATION, and the hash. */
export function withAppliedHash<T extends KubernetesObject>(obj: T): { obj: T; hash: string } {
  const hash = createHash('sha256').update(JSON.stringify(obj)).digest('hex');
  const md = obj.metadata ?? {};
  return { obj: { ...obj, metadata: { ...md, annotations: { ...md.annotations, [APPLIED_HASH_ANNOTATION]: hash } } }, hash };
}

/** The content hash a live object was last applied with (withAppliedHash), if any. */
export function appliedHashOf(live: KubernetesObject | undefined): string | undefined {
  return live?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
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
