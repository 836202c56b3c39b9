// Types of the renderer's input and output. The input is the generated IstioOperator type (operator/src/api),
// whose `values`, `meshConfig` and Kubernetes sub-objects are open-ended; the output is plain JSON objects.
import type { IstioOperator } from '../api/index.js';

export type { IstioOperator };
export type IstioOperatorSpec = NonNullable<IstioOperator['spec']>;
export type ComponentSet = NonNullable<IstioOperatorSpec['components']>;
export type K8sSettings = NonNullable<NonNullable<ComponentSet['pilot']>['k8s']>;
export type GatewaySpec = NonNullable<ComponentSet['ingressGateways']>[number];
export type Overlay = NonNullable<K8sSettings['overlays']>[number];

/** A JSON value, as found in specs and rendered objects. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = Record<string, unknown>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** A rendered Kubernetes object: plain JSON, ready for server-side apply. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** The value of the `operator.istio.io/component` label, and the keys of status.componentStatus. */
export type ComponentName = 'Base' | 'Pilot' | 'Cni' | 'IngressGateways' | 'EgressGateways' | 'IstiodRemote';

export const COMPONENT_NAMES: readonly ComponentName[] = ['Base', 'Pilot', 'Cni', 'IngressGateways', 'EgressGateways', 'IstiodRemote'];

export interface RenderResult {
  /** The desired objects, sorted (see sortObjects). */
  objects: KubernetesObject[];
  /** Which components the merged spec enables; a gateway component is enabled when any of its gateways is. */
  components: Record<ComponentName, { enabled: boolean }>;
  /** The `istio.io/rev` value of every object: spec.revision, or "default" for the default revision. */
  revision: string;
}
