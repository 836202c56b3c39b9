// Pure renderer: IstioOperator (+ its profile) → the Kubernetes objects the controller server-side applies and
// `mizzen manifest generate` prints. Same input, same bytes out. See DESIGN.md, "Render is pure".
import { cniConfigToData } from './cniconfig.js';
import { renderBase } from './components/base.js';
import { CNI_NAMES, CONFIG_CHECKSUM_ANNOTATION, renderCni } from './components/cni.js';
import { renderGateway } from './components/gateways.js';
import { renderIstiodRemote } from './components/istiodremote.js';
import { renderPilot } from './components/pilot.js';
import { InvalidSpecError } from './errors.js';
import { checksum, isRecord, sortKeys } from './json.js';
import { restamp, sortObjects } from './objects.js';
import { applyOverlays } from './overlays.js';
import { resolveInstall, type ComponentSettings, type Install } from './resolve.js';
import type { ComponentName, IstioOperator, KubernetesObject, RenderResult } from './types.js';

export { InvalidSpecError, isInvalidSpecError } from './errors.js';
export {
  COMPONENT_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  OWNER_NAME_LABEL,
  OWNER_NAMESPACE_LABEL,
  REVISION_LABEL,
  componentOf,
  ownerLabels,
  ownerOf,
  ownerSelector,
} from './labels.js';
export { KIND_ORDER, RENDERED_KINDS, compareObjects, sortObjects, toJson, toYaml, type RenderedKind } from './objects.js';
export { PROFILE_NAMES, isProfileName, profileSpec, withProfile, type ProfileName } from './profiles.js';
export { applySet, parseSetValue, setPath } from './setpath.js';
export { cniConfigFromData, cniConfigToData, REPAIR_DEFAULTS, type CniConfig, type CniRepairSettings } from './cniconfig.js';
export { CNI_CONTAINER_PATHS, CNI_HOST_PATHS, CNI_NAMES, CONFIG_CHECKSUM_ANNOTATION } from './components/cni.js';
export { MIZZEN_VERSION, ISTIO_HUB, ISTIO_TAG } from './version.js';
export { COMPONENT_NAMES } from './types.js';
export type { ComponentName, IstioOperator, IstioOperatorSpec, KubernetesObject, ObjectMeta, RenderResult } from './types.js';

interface Part {
  readonly component: ComponentName;
  readonly settings: ComponentSettings;
  readonly render: () => KubernetesObject[];
  /** Runs after overlays, on the component's final objects. */
  readonly finish?: (objects: KubernetesObject[]) => KubernetesObject[];
}

/** The DaemonSet's checksum annotation from the ConfigMap as finally rendered (after overlays). */
function stampCniChecksum(objects: KubernetesObject[]): KubernetesObject[] {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === CNI_NAMES.configMap);
  const data = cm && isRecord(cm.data) ? cm.data : {};
  for (const ds of objects.filter((o) => o.kind === 'DaemonSet' && o.metadata.name === CNI_NAMES.daemonSet)) {
    const template = (ds.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template;
    template.metadata.annotations = { ...(template.metadata.annotations ?? {}), [CONFIG_CHECKSUM_ANNOTATION]: `sha256:${checksum(data)}` };
  }
  return objects;
}

function parts(install: Install): Part[] {
  const gateways: Part[] = [...install.ingressGateways, ...install.egressGateways].map((gw) => ({
    component: gw.ingress ? 'IngressGateways' : 'EgressGateways',
    settings: gw,
    render: () => renderGateway(install, gw),
  }));
  return [
    { component: 'Base', settings: install.base, render: () => renderBase(install) },
    { component: 'Pilot', settings: install.pilot, render: () => renderPilot(install) },
    { component: 'IstiodRemote', settings: install.istiodRemote, render: () => renderIstiodRemote(install) },
    { component: 'Cni', settings: install.cni, render: () => renderCni(install), finish: stampCniChecksum },
    ...gateways,
  ];
}

function identity(obj: KubernetesObject): string {
  return `${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}`;
}

/** Two components (or two gateways) must not render the same object; a user-chosen name is the usual cause. */
function checkUnique(rendered: readonly { obj: KubernetesObject; field: string }[]): void {
  const seen = new Map<string, string>();
  for (const { obj, field } of rendered) {
    const id = `${obj.apiVersion} ${identity(obj)}`;
    const other = seen.get(id);
    if (other !== undefined) throw new InvalidSpecError(field, `renders ${identity(obj)}, which ${other} renders too; choose another name`);
    seen.set(id, field);
  }
}

/** Service names are DNS-1035 labels of at most 63 characters; the revision suffix can push them over. */
function checkServiceNames(install: Install, rendered: readonly { obj: KubernetesObject; field: string }[]): void {
  for (const { obj, field } of rendered) {
    if (obj.kind !== 'Service' || obj.metadata.name.length <= 63) continue;
    const at = install.revision === undefined ? field : 'spec.revision';
    throw new InvalidSpecError(at, `makes the Service name ${JSON.stringify(obj.metadata.name)} longer than 63 characters; choose a shorter revision`);
  }
}

/**
 * Renders an IstioOperator: its spec laid over its profile, validated, turned into the objects of every enabled
 * component, with k8s settings and overlays applied and owner labels stamped. Throws InvalidSpecError (naming the
 * field) for anything invalid. Objects come sorted (KIND_ORDER, namespace, name) with sorted keys.
 */
export function render(iop: IstioOperator): RenderResult {
  const install = resolveInstall(iop);
  const components = { Base: false, Pilot: false, Cni: false, IngressGateways: false, EgressGateways: false, IstiodRemote: false };
  const rendered: { obj: KubernetesObject; field: string }[] = [];
  for (const part of parts(install)) {
    if (!part.settings.enabled) continue;
    components[part.component] = true;
    const field = part.settings.field;
    let objects = applyOverlays(part.render(), part.settings.k8s.overlays, `${field}.k8s.overlays`);
    objects = (part.finish ?? ((o: KubernetesObject[]) => o))(objects).map((o) => restamp(o, install, part.component));
    rendered.push(...objects.map((obj) => ({ obj, field })));
  }
  checkUnique(rendered);
  checkServiceNames(install, rendered);
  const owned = withOwnerReference(iop);
  const enabled = (on: boolean): { enabled: boolean } => ({ enabled: on });
  return {
    objects: sortObjects(rendered.map(({ obj }) => sortKeys(owned(obj)))),
    components: {
      Base: enabled(components.Base),
      Pilot: enabled(components.Pilot),
      Cni: enabled(components.Cni),
      IngressGateways: enabled(components.IngressGateways),
      EgressGateways: enabled(components.EgressGateways),
      IstiodRemote: enabled(components.IstiodRemote),
    },
    revision: install.rev,
  };
}

/**
 * An IstioOperator read from the cluster (it has a uid) becomes the controlling owner of the objects it renders in
 * its own namespace: garbage collection, `kubectl tree` and Argo CD's resource tree follow the reference.
 * Cluster-scoped objects and objects in other namespaces cannot name a namespaced owner; the owner labels
 * (ownerSelector) and the finalizer cover them. Read from a file (no uid), nothing is added.
 */
function withOwnerReference(iop: IstioOperator): (obj: KubernetesObject) => KubernetesObject {
  const md = iop.metadata as { name?: string; namespace?: string; uid?: string } | undefined;
  const uid = md?.uid;
  if (!uid || !md.name || !md.namespace) return (obj) => obj;
  const ref = { apiVersion: iop.apiVersion ?? 'install.istio.io/v1alpha1', blockOwnerDeletion: true, controller: true, kind: 'IstioOperator', name: md.name, uid };
  return (obj) => (obj.metadata.namespace === md.namespace ? { ...obj, metadata: { ...obj.metadata, ownerReferences: [ref] } } : obj);
}

/** The CNI agent's ConfigMap data for an IstioOperator, without rendering anything else. */
export function cniConfigData(iop: IstioOperator): Record<string, string> {
  return cniConfigToData(resolveInstall(iop).cniConfig);
}
