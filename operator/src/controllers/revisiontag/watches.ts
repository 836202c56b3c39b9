import type { KubernetesObject, V1Namespace, V1Pod } from '@kubernetes/client-node';
import type { RevisionTag } from '../../api/index.js';
import type { Informer } from '../../kube/informer.js';
import { keyOf } from '../../kube/objects.js';
import { isInjector, isTagWebhook, tagOfNamespace, tagOwnerOf, type WebhookConfiguration } from '../../render/revisiontag/index.js';

export type Tag = RevisionTag & KubernetesObject;

/**
 * Object → RevisionTag keys. Tags are few, so anything that can change every tag's checks (an injector webhook,
 * a namespace label) enqueues them all; a pod enqueues the tags its namespace selects.
 */
export class TagKeys {
  constructor(
    private readonly tags: Informer<Tag>,
    private readonly namespaces: Informer<V1Namespace & KubernetesObject>,
  ) {}

  all(): string[] {
    return this.tags.list().map(keyOf);
  }

  /** Every RevisionTag with this name (namesakes in other namespaces compete for the same webhook). */
  named(name: string | undefined): string[] {
    return name === undefined ? [] : this.tags.list().filter((t) => t.metadata?.name === name).map(keyOf);
  }

  forWebhook(mwc: WebhookConfiguration): string[] {
    if (!isInjector(mwc) && !isTagWebhook(mwc)) return [];
    const owner = tagOwnerOf(mwc);
    const keys = this.all();
    return owner && !keys.includes(owner) ? [...keys, owner] : keys; // an orphan's owner key deletes it
  }

  forPod(pod: V1Pod): string[] {
    return this.named(tagOfNamespace(this.namespaces.get(pod.metadata?.namespace ?? '')));
  }
}
