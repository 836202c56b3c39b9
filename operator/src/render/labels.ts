// The labels that tie every rendered object to its IstioOperator, component and revision. The controller
// finds what to prune (and what to delete on uninstall) with ownerSelector(), so the selector deliberately
// leaves out the revision and component: changing spec.revision or disabling a component must still find the
// objects rendered before.
import { COMPONENT_NAMES, type ComponentName, type IstioOperator } from './types.js';

export const OWNER_NAME_LABEL = 'install.operator.istio.io/owning-resource';
export const OWNER_NAMESPACE_LABEL = 'install.operator.istio.io/owning-resource-namespace';
export const COMPONENT_LABEL = 'operator.istio.io/component';
export const REVISION_LABEL = 'istio.io/rev';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mizzen';

/** Defaults for an IstioOperator read from a file without metadata (istioctl's conventions). */
export const DEFAULT_OWNER_NAME = 'installed-state';
export const DEFAULT_OWNER_NAMESPACE = 'istio-system';

export interface Owner {
  readonly name: string;
  readonly namespace: string;
}

export function ownerOf(iop: Pick<IstioOperator, 'metadata'>): Owner {
  const md = iop.metadata as { name?: string; namespace?: string } | undefined;
  return { name: md?.name || DEFAULT_OWNER_NAME, namespace: md?.namespace || DEFAULT_OWNER_NAMESPACE };
}

/** The revision label value for a spec.revision: "default" when unset or empty. */
export function revisionLabel(revision: string | undefined): string {
  return revision === undefined || revision === '' ? 'default' : revision;
}

/** The labels every object rendered for this IstioOperator carries, whatever its component. */
export function ownerLabels(iop: Pick<IstioOperator, 'metadata' | 'spec'>): Record<string, string> {
  const owner = ownerOf(iop);
  return {
    [OWNER_NAME_LABEL]: owner.name,
    [OWNER_NAMESPACE_LABEL]: owner.namespace,
    [REVISION_LABEL]: revisionLabel(iop.spec?.revision),
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

/** A label selector (string form) that selects everything this IstioOperator owns, in every revision. */
export function ownerSelector(iop: Pick<IstioOperator, 'metadata'>): string {
  const owner = ownerOf(iop);
  return [`${OWNER_NAME_LABEL}=${owner.name}`, `${OWNER_NAMESPACE_LABEL}=${owner.namespace}`, `${MANAGED_BY_LABEL}=${MANAGED_BY}`].join(',');
}

/** The component a rendered (or live) object belongs to, from its labels; undefined for anything else. */
export function componentOf(obj: { metadata?: { labels?: Record<string, string> } | undefined }): ComponentName | undefined {
  const value = obj.metadata?.labels?.[COMPONENT_LABEL];
  return (COMPONENT_NAMES as readonly string[]).includes(value ?? '') ? (value as ComponentName) : undefined;
}
