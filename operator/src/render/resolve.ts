// From an IstioOperator to the validated, effective settings the component renderers read: the spec laid
// over its profile, the revision, the control-plane namespace, images, and one settings record per component.
// Every check is small and named, runs in a fixed order, and throws InvalidSpecError naming the field.
import {
  booleanOr,
  httpsUrl,
  isDns1035Label,
  isHostname,
  isIPv4,
  isIPv6,
  isLabelValue,
  namespaceName,
  optionalString,
  optionalTag,
  record,
  stringMap,
  stringOr,
} from './checks.js';
import { resolveCniConfig, type CniConfig } from './cniconfig.js';
import { InvalidSpecError } from './errors.js';
import { isRecord } from './json.js';
import { isDns1123Label } from './checks.js';
import { ownerOf, type Owner } from './labels.js';
import { withProfile } from './profiles.js';
import { checkValueTypes } from './valuetypes.js';
import type { IstioOperator, IstioOperatorSpec, K8sSettings } from './types.js';
import { ISTIO_HUB, ISTIO_TAG, MIZZEN_HUB, MIZZEN_IMAGE, MIZZEN_VERSION } from './version.js';

export interface ComponentSettings {
  readonly enabled: boolean;
  /** Namespace of the component's namespaced objects. */
  readonly namespace: string;
  /** Image hub and tag for this component (component's own, else spec/global, else Istio 1.11's). */
  readonly hub: string;
  readonly tag: string;
  readonly k8s: K8sSettings;
  /** Where the component lives in the spec, for error messages: "components.pilot". */
  readonly field: string;
}

export interface GatewaySettings extends ComponentSettings {
  /** The gateway's name as given (objects get the revision suffix on top). */
  readonly name: string;
  readonly ingress: boolean;
  /** Pod labels: Istio's defaults for the gateway kind, overridden by the entry's `label`. */
  readonly label: Readonly<Record<string, string>>;
}

export interface RemoteSettings {
  /** values.istiodRemote.injectionURL, validated; undefined when empty. */
  readonly injectionURL: string | undefined;
  readonly injectionPath: string;
  /** values.global.remotePilotAddress; undefined when empty. */
  readonly remotePilotAddress: string | undefined;
}

export interface Install {
  readonly owner: Owner;
  /** spec.revision, undefined for the default revision. */
  readonly revision: string | undefined;
  /** The istio.io/rev label value: the revision or "default". */
  readonly rev: string;
  /** "-<revision>" or "". */
  readonly suffix: string;
  /** The control-plane namespace. */
  readonly namespace: string;
  /** The user's spec laid over the profile. */
  readonly spec: IstioOperatorSpec;
  readonly values: Record<string, unknown>;
  readonly global: Record<string, unknown>;
  readonly meshConfig: Record<string, unknown>;
  readonly hub: string;
  readonly tag: string;
  readonly base: ComponentSettings;
  readonly pilot: ComponentSettings;
  readonly cni: ComponentSettings;
  readonly istiodRemote: ComponentSettings;
  readonly ingressGateways: readonly GatewaySettings[];
  readonly egressGateways: readonly GatewaySettings[];
  readonly cniConfig: CniConfig;
  /** The node agent's image reference. */
  readonly cniImage: string;
  readonly remote: RemoteSettings;
  /** values.global.multiCluster.clusterName, or Istio's default "Kubernetes". */
  readonly clusterName: string;
}

function checkOwner(owner: Owner): void {
  if (!isLabelValue(owner.name)) {
    throw new InvalidSpecError('metadata.name', `${JSON.stringify(owner.name)} must be at most 63 characters: it is the value of the owning-resource label of every object`);
  }
  namespaceName(owner.namespace, 'metadata.namespace');
}

function resolveRevision(value: unknown): string | undefined {
  const revision = optionalString(value, 'spec.revision');
  if (revision === undefined || revision === '' || revision === 'default') return undefined;
  if (!isDns1123Label(revision)) {
    throw new InvalidSpecError(
      'spec.revision',
      `${JSON.stringify(revision)} is not a valid revision: it must be a DNS-1123 label (lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), e.g. 1-8-3`,
    );
  }
  return revision;
}

/** spec.namespace, else values.global.istioNamespace, else the IstioOperator's own namespace. */
function resolveNamespace(spec: IstioOperatorSpec, global: Record<string, unknown>, owner: Owner): string {
  const fromSpec = optionalString(spec.namespace, 'spec.namespace') || undefined;
  const fromValues = optionalString(global.istioNamespace, 'values.global.istioNamespace') || undefined;
  if (fromSpec && fromValues && fromSpec !== fromValues) {
    throw new InvalidSpecError('values.global.istioNamespace', `${JSON.stringify(fromValues)} differs from spec.namespace ${JSON.stringify(fromSpec)}; set one of them`);
  }
  if (fromSpec) return namespaceName(fromSpec, 'spec.namespace');
  if (fromValues) return namespaceName(fromValues, 'values.global.istioNamespace');
  return owner.namespace;
}

function k8sOf(value: unknown, field: string): K8sSettings {
  return record(value, field);
}

interface ImageDefaults {
  readonly hub: string;
  readonly tag: string;
}

function component(spec: unknown, field: string, namespace: string, images: ImageDefaults): ComponentSettings {
  const c = record(spec, field);
  const ns = optionalString(c.namespace, `${field}.namespace`) || namespace;
  return {
    enabled: booleanOr(c.enabled, `${field}.enabled`, false),
    namespace: namespaceName(ns, `${field}.namespace`),
    hub: optionalString(c.hub, `${field}.hub`) || images.hub,
    tag: optionalTag(c.tag, `${field}.tag`) ?? images.tag,
    k8s: k8sOf(c.k8s, `${field}.k8s`),
    field,
  };
}

/** base, pilot and istiodRemote live in the control-plane namespace; another namespace would split them. */
function controlPlaneComponent(spec: unknown, field: string, namespace: string, images: ImageDefaults): ComponentSettings {
  const settings = component(spec, field, namespace, images);
  if (settings.namespace !== namespace) {
    throw new InvalidSpecError(`${field}.namespace`, `must be the control-plane namespace ${JSON.stringify(namespace)} (spec.namespace); move the whole control plane with spec.namespace instead`);
  }
  return settings;
}

const GATEWAY_LABELS = {
  ingress: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  egress: { app: 'istio-egressgateway', istio: 'egressgateway' },
} as const;

function gateways(list: unknown, ingress: boolean, namespace: string, images: ImageDefaults, suffix: string): GatewaySettings[] {
  const field = ingress ? 'components.ingressGateways' : 'components.egressGateways';
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new InvalidSpecError(field, 'must be a list of gateways');
  return list.map((entry: unknown, i) => {
    const at = `${field}[${i}]`;
    const settings = component(entry, at, namespace, images);
    const name = stringOr((entry as Record<string, unknown>).name, `${at}.name`, '');
    if (!isDns1035Label(name)) {
      throw new InvalidSpecError(`${at}.name`, `${JSON.stringify(name)} is not a valid gateway name (a DNS-1035 label: lower case letters, digits and '-', starting with a letter, at most 63 characters)`);
    }
    if (settings.enabled && (name + suffix).length > 63) {
      throw new InvalidSpecError(`${at}.name`, `${JSON.stringify(name + suffix)} (the name with the revision suffix) is longer than 63 characters, too long for a Service`);
    }
    const label = { ...GATEWAY_LABELS[ingress ? 'ingress' : 'egress'], ...stringMap((entry as Record<string, unknown>).label, `${at}.label`) };
    return { ...settings, name, ingress, label };
  });
}

function checkGatewayNames(all: readonly GatewaySettings[]): void {
  const seen = new Map<string, string>();
  for (const g of all.filter((x) => x.enabled)) {
    const key = `${g.namespace}/${g.name}`;
    const other = seen.get(key);
    if (other !== undefined) throw new InvalidSpecError(`${g.field}.name`, `gateway ${JSON.stringify(g.name)} in namespace ${g.namespace} is also defined at ${other}`);
    seen.set(key, g.field);
  }
}

function resolveRemote(values: Record<string, unknown>, global: Record<string, unknown>): RemoteSettings {
  const remote = record(values.istiodRemote, 'values.istiodRemote');
  const url = stringOr(remote.injectionURL, 'values.istiodRemote.injectionURL', '');
  const injectionPath = stringOr(remote.injectionPath, 'values.istiodRemote.injectionPath', '/inject');
  if (!injectionPath.startsWith('/')) throw new InvalidSpecError('values.istiodRemote.injectionPath', `${JSON.stringify(injectionPath)} must start with '/'`);
  const address = stringOr(global.remotePilotAddress, 'values.global.remotePilotAddress', '');
  if (address !== '' && !isIPv4(address) && !isIPv6(address) && !isHostname(address)) {
    throw new InvalidSpecError('values.global.remotePilotAddress', `${JSON.stringify(address)} is neither an IP address nor a DNS name`);
  }
  return {
    injectionURL: url === '' ? undefined : httpsUrl(url, 'values.istiodRemote.injectionURL'),
    injectionPath,
    remotePilotAddress: address === '' ? undefined : address,
  };
}

function checkRemote(pilot: ComponentSettings, istiodRemote: ComponentSettings, remote: RemoteSettings): void {
  if (!istiodRemote.enabled) return;
  if (pilot.enabled) {
    throw new InvalidSpecError('components.istiodRemote.enabled', 'cannot be true while components.pilot.enabled is true: a cluster either runs istiod or uses an external one');
  }
  if (remote.injectionURL === undefined && remote.remotePilotAddress === undefined) {
    throw new InvalidSpecError(
      'values.istiodRemote.injectionURL',
      'is required when components.istiodRemote is enabled (e.g. https://istiod.example.com:15017/inject), unless values.global.remotePilotAddress says where the external istiod is',
    );
  }
}

function checkUnsupported(components: Record<string, unknown>): void {
  const ztunnel = record(components.ztunnel, 'components.ztunnel');
  if (booleanOr(ztunnel.enabled, 'components.ztunnel.enabled', false)) {
    throw new InvalidSpecError('components.ztunnel.enabled', 'ztunnel (ambient mode) is not part of Istio 1.11 and mizzen does not render it');
  }
}

/** The agent image: values.cni.image verbatim when it names a registry path, else hub/image:tag. */
function cniImage(cni: ComponentSettings, valuesCni: Record<string, unknown>): string {
  const image = stringOr(valuesCni.image, 'values.cni.image', '') || MIZZEN_IMAGE;
  if (image.includes('/')) return image;
  const hub = cni.hub || stringOr(valuesCni.hub, 'values.cni.hub', '') || MIZZEN_HUB;
  const tag = cni.tag || optionalTag(valuesCni.tag, 'values.cni.tag') || MIZZEN_VERSION;
  return `${hub}/${image}:${tag}`;
}

function imageDefaults(spec: IstioOperatorSpec, global: Record<string, unknown>): ImageDefaults {
  const hub = optionalString(spec.hub, 'spec.hub') || optionalString(global.hub, 'values.global.hub') || ISTIO_HUB;
  const tag = optionalTag(spec.tag, 'spec.tag') ?? optionalTag(global.tag, 'values.global.tag') ?? ISTIO_TAG;
  return { hub, tag };
}

/** Validates the IstioOperator and computes everything the component renderers need. */
export function resolveInstall(iop: IstioOperator): Install {
  const owner = ownerOf(iop);
  checkOwner(owner);
  const rawSpec: unknown = iop.spec;
  if (rawSpec !== undefined && !isRecord(rawSpec)) throw new InvalidSpecError('spec', 'must be an object');
  const spec = withProfile(iop.spec ?? {});
  checkValueTypes(spec as Record<string, unknown>);
  const revision = resolveRevision(spec.revision);
  const suffix = revision === undefined ? '' : `-${revision}`;
  const values = record(spec.values, 'spec.values');
  const global = record(values.global, 'values.global');
  const namespace = resolveNamespace(spec, global, owner);
  const components = record(spec.components, 'spec.components');
  const images = imageDefaults(spec, global);
  checkUnsupported(components);
  const pilot = controlPlaneComponent(components.pilot, 'components.pilot', namespace, images);
  const istiodRemote = controlPlaneComponent(components.istiodRemote, 'components.istiodRemote', namespace, images);
  const remote = resolveRemote(values, global);
  checkRemote(pilot, istiodRemote, remote);
  const ingressGateways = gateways(components.ingressGateways, true, namespace, images, suffix);
  const egressGateways = gateways(components.egressGateways, false, namespace, images, suffix);
  checkGatewayNames([...ingressGateways, ...egressGateways]);
  const cni = component(components.cni, 'components.cni', namespace, { hub: '', tag: '' });
  const multiCluster = record(global.multiCluster, 'values.global.multiCluster');
  return {
    owner,
    revision,
    rev: revision ?? 'default',
    suffix,
    namespace,
    spec,
    values,
    global,
    meshConfig: record(spec.meshConfig, 'spec.meshConfig'),
    ...images,
    base: controlPlaneComponent(components.base, 'components.base', namespace, images),
    pilot,
    cni,
    istiodRemote,
    ingressGateways,
    egressGateways,
    cniConfig: resolveCniConfig(values.cni, global),
    cniImage: cniImage(cni, record(values.cni, 'values.cni')),
    remote,
    clusterName: stringOr(multiCluster.clusterName, 'values.global.multiCluster.clusterName', '') || 'Kubernetes',
  };
}
