// The sidecar injection MutatingWebhookConfiguration, after Istio 1.11's
// istio-control/istio-discovery/templates/mutatingwebhook.yaml:
//   every revision:   rev.namespace.sidecar-injector.istio.io  namespace istio.io/rev In [rev], no istio-injection
//                     rev.object.sidecar-injector.istio.io     pod istio.io/rev In [rev], namespace unlabelled
//   default revision: namespace.sidecar-injector.istio.io      namespace istio-injection=enabled
//                     object.sidecar-injector.istio.io         pod sidecar.istio.io/inject=true, namespace unlabelled
//                     (+ auto.sidecar-injector.istio.io with values.sidecarInjectorWebhook.enableNamespacesByDefault)
// All share the clientConfig (the revision's istiod Service, or an external injection URL), CREATE pods, Fail.
// caBundle is left out: istiod patches it in, and leaving it out keeps server-side apply from fighting over it.
import { booleanOr } from '../checks.js';
import { isRecord } from '../json.js';
import { meta } from '../objects.js';
import type { Install } from '../resolve.js';
import type { ComponentName, JsonObject, KubernetesObject } from '../types.js';

type Requirement = { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] };

const notDisabled: Requirement = { key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] };
const noInjectionLabel: Requirement = { key: 'istio-injection', operator: 'DoesNotExist' };
const noRevLabel: Requirement = { key: 'istio.io/rev', operator: 'DoesNotExist' };

function webhook(name: string, clientConfig: JsonObject, namespaceSelector: Requirement[], objectSelector: Requirement[]): JsonObject {
  return {
    name,
    admissionReviewVersions: ['v1beta1', 'v1'],
    clientConfig,
    failurePolicy: 'Fail',
    namespaceSelector: { matchExpressions: namespaceSelector },
    objectSelector: { matchExpressions: objectSelector },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
    sideEffects: 'None',
  };
}

/** The webhooks for a clientConfig, in Istio's order. */
export function injectionWebhooks(install: Install, clientConfig: JsonObject): JsonObject[] {
  const revIn: Requirement = { key: 'istio.io/rev', operator: 'In', values: [install.rev] };
  const hooks = [
    webhook('rev.namespace.sidecar-injector.istio.io', clientConfig, [revIn, noInjectionLabel], [notDisabled]),
    webhook('rev.object.sidecar-injector.istio.io', clientConfig, [noRevLabel, noInjectionLabel], [notDisabled, revIn]),
  ];
  if (install.revision !== undefined) return hooks;
  hooks.push(
    webhook('namespace.sidecar-injector.istio.io', clientConfig, [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }], [notDisabled]),
    webhook('object.sidecar-injector.istio.io', clientConfig, [noInjectionLabel, noRevLabel], [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }, noRevLabel]),
  );
  const settings = isRecord(install.values.sidecarInjectorWebhook) ? install.values.sidecarInjectorWebhook : {};
  if (booleanOr(settings.enableNamespacesByDefault, 'values.sidecarInjectorWebhook.enableNamespacesByDefault', false)) {
    hooks.push(
      webhook(
        'auto.sidecar-injector.istio.io',
        clientConfig,
        [noInjectionLabel, noRevLabel, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'] }],
        [{ key: 'sidecar.istio.io/inject', operator: 'DoesNotExist' }, noRevLabel],
      ),
    );
  }
  return hooks;
}

/** Cluster-scoped, so a control plane outside istio-system gets its namespace in the name (as Istio does). */
export function webhookConfigName(install: Install): string {
  const base = `istio-sidecar-injector${install.suffix}`;
  return install.namespace === 'istio-system' ? base : `${base}-${install.namespace}`;
}

export function injectionWebhookConfiguration(install: Install, component: ComponentName, clientConfig: JsonObject): KubernetesObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: meta(install, component, webhookConfigName(install), undefined, { app: 'sidecar-injector', release: 'istio' }),
    webhooks: injectionWebhooks(install, clientConfig),
  };
}

/** clientConfig for the revision's istiod Service (port 443 → 15017). */
export function serviceClientConfig(service: string, namespace: string, path: string): JsonObject {
  return { service: { name: service, namespace, path, port: 443 } };
}
