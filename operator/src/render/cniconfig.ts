// The node agent's configuration: values.cni.* resolved and normalised, and its ConfigMap form. The agent reads
// the ConfigMap back with cniConfigFromData, so both sides share one definition of the keys.
import { checkCniRepair, normalizeCniRepair } from '../api/cni-repair.js';
import { absolutePath, booleanOr, isDns1123Label, isHostname, isLabelValue, record, stringList, stringOr } from './checks.js';
import { InvalidSpecError } from './errors.js';

export interface CniRepairSettings {
  enabled: boolean;
  labelPods: boolean;
  deletePods: boolean;
  repairPods: boolean;
  initContainerName: string;
  brokenPodLabelKey: string;
  brokenPodLabelValue: string;
}

export interface CniConfig {
  cniBinDir: string;
  cniConfDir: string;
  /** Empty: the agent picks the first file in cniConfDir (Istio's "auto"). */
  cniConfFileName: string;
  excludeNamespaces: string[];
  chained: boolean;
  logLevel: string;
  repair: CniRepairSettings;
  /** values.global.nativeNftables: the agent programs pods with native nftables instead of iptables. */
  nativeNftables: boolean;
}

/**
 * Istio 1.11's repair defaults (manifests/charts/istio-cni/values.yaml): `repair: true` means these with
 * enabled true; an object overrides them field by field.
 */
export const REPAIR_DEFAULTS: Readonly<CniRepairSettings> = {
  enabled: true,
  labelPods: true,
  deletePods: true,
  repairPods: false,
  initContainerName: 'istio-validation',
  brokenPodLabelKey: 'cni.istio.io/uninitialized',
  brokenPodLabelValue: 'true',
};

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'none'];

function repairSettings(value: unknown): CniRepairSettings {
  const problems = checkCniRepair(value, 'values.cni.repair');
  if (problems.length > 0) throw new InvalidSpecError('values.cni.repair', problems.join('; '));
  const given = normalizeCniRepair(value) ?? {};
  const pick = <K extends keyof CniRepairSettings>(key: K): CniRepairSettings[K] => (given[key] ?? REPAIR_DEFAULTS[key]) as CniRepairSettings[K];
  // The agent uses these as a label and a container name: values Kubernetes would refuse never reach it.
  const key = pick('brokenPodLabelKey');
  if (!isLabelKey(key)) throw new InvalidSpecError('values.cni.repair.brokenPodLabelKey', `${JSON.stringify(key)} is not a valid label key (an optional DNS subdomain prefix and "/", then at most 63 letters, digits, "-", "_" or ".", starting and ending alphanumeric)`);
  const labelValue = pick('brokenPodLabelValue');
  if (!isLabelValue(labelValue)) throw new InvalidSpecError('values.cni.repair.brokenPodLabelValue', `${JSON.stringify(labelValue)} is not a valid label value`);
  const init = pick('initContainerName');
  if (!isDns1123Label(init)) throw new InvalidSpecError('values.cni.repair.initContainerName', `${JSON.stringify(init)} is not a valid container name (a DNS-1123 label: lower-case letters, digits and "-", at most 63)`);
  return {
    enabled: pick('enabled'),
    labelPods: pick('labelPods'),
    deletePods: pick('deletePods'),
    repairPods: pick('repairPods'),
    initContainerName: pick('initContainerName'),
    brokenPodLabelKey: pick('brokenPodLabelKey'),
    brokenPodLabelValue: pick('brokenPodLabelValue'),
  };
}

/** values.cni.excludeNamespaces: namespace names (the ConfigMap joins them with commas, so a comma is refused too). */
function excludedNamespaces(value: unknown): string[] {
  const list = stringList(value, 'values.cni.excludeNamespaces') ?? ['istio-system', 'kube-system'];
  list.forEach((ns, i) => {
    if (!isDns1123Label(ns)) throw new InvalidSpecError(`values.cni.excludeNamespaces[${i}]`, `${JSON.stringify(ns)} is not a namespace name (a DNS-1123 label: lower-case letters, digits and "-", at most 63)`);
  });
  return list;
}

/** A label key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters. */
function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !isHostname(prefix)) return false;
  return name.length > 0 && name.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name);
}

/** values.cni (already laid over the profile's defaults) and values.global as a validated CniConfig. */
export function resolveCniConfig(valuesCni: unknown, valuesGlobal: unknown = {}): CniConfig {
  const global = record(valuesGlobal, 'values.global');
  const cni = record(valuesCni, 'values.cni');
  const confFileName = stringOr(cni.cniConfFileName, 'values.cni.cniConfFileName', '');
  if (confFileName.includes('/') || confFileName === '.' || confFileName === '..') {
    throw new InvalidSpecError('values.cni.cniConfFileName', `${JSON.stringify(confFileName)} must be a file name inside cniConfDir, not a path`);
  }
  const logLevel = stringOr(cni.logLevel, 'values.cni.logLevel', 'info');
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidSpecError('values.cni.logLevel', `${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return {
    cniBinDir: absolutePath(stringOr(cni.cniBinDir, 'values.cni.cniBinDir', '/opt/cni/bin'), 'values.cni.cniBinDir'),
    cniConfDir: absolutePath(stringOr(cni.cniConfDir, 'values.cni.cniConfDir', '/etc/cni/net.d'), 'values.cni.cniConfDir'),
    cniConfFileName: confFileName,
    excludeNamespaces: excludedNamespaces(cni.excludeNamespaces),
    chained: booleanOr(cni.chained, 'values.cni.chained', true),
    logLevel,
    repair: repairSettings(cni.repair),
    nativeNftables: booleanOr(global.nativeNftables, 'values.global.nativeNftables', false),
  };
}

/** The ConfigMap data (every value a string) for a CniConfig. Lists are comma-separated, booleans "true"/"false". */
export function cniConfigToData(cfg: CniConfig): Record<string, string> {
  return {
    chained: String(cfg.chained),
    cniBinDir: cfg.cniBinDir,
    cniConfDir: cfg.cniConfDir,
    cniConfFileName: cfg.cniConfFileName,
    excludeNamespaces: cfg.excludeNamespaces.join(','),
    logLevel: cfg.logLevel,
    'repair.brokenPodLabelKey': cfg.repair.brokenPodLabelKey,
    'repair.brokenPodLabelValue': cfg.repair.brokenPodLabelValue,
    'repair.deletePods': String(cfg.repair.deletePods),
    'repair.enabled': String(cfg.repair.enabled),
    'repair.initContainerName': cfg.repair.initContainerName,
    'repair.labelPods': String(cfg.repair.labelPods),
    'repair.repairPods': String(cfg.repair.repairPods),
    nativeNftables: String(cfg.nativeNftables),
  };
}

/** The inverse of cniConfigToData; missing keys take the defaults. Throws InvalidSpecError on malformed data. */
export function cniConfigFromData(data: Readonly<Record<string, string>>): CniConfig {
  const bool = (key: string, fallback: boolean): boolean => {
    const v = data[key];
    if (v === undefined || v === '') return fallback;
    if (v !== 'true' && v !== 'false') throw new InvalidSpecError(key, `must be "true" or "false", not ${JSON.stringify(v)}`);
    return v === 'true';
  };
  const str = (key: string, fallback: string): string => data[key] ?? fallback;
  const excluded = data.excludeNamespaces;
  return {
    cniBinDir: absolutePath(str('cniBinDir', '/opt/cni/bin'), 'cniBinDir'),
    cniConfDir: absolutePath(str('cniConfDir', '/etc/cni/net.d'), 'cniConfDir'),
    cniConfFileName: str('cniConfFileName', ''),
    excludeNamespaces: excluded === undefined ? ['istio-system', 'kube-system'] : excluded.split(',').filter((s) => s !== ''),
    chained: bool('chained', true),
    logLevel: str('logLevel', 'info'),
    repair: {
      enabled: bool('repair.enabled', REPAIR_DEFAULTS.enabled),
      labelPods: bool('repair.labelPods', REPAIR_DEFAULTS.labelPods),
      deletePods: bool('repair.deletePods', REPAIR_DEFAULTS.deletePods),
      repairPods: bool('repair.repairPods', REPAIR_DEFAULTS.repairPods),
      initContainerName: str('repair.initContainerName', REPAIR_DEFAULTS.initContainerName),
      brokenPodLabelKey: str('repair.brokenPodLabelKey', REPAIR_DEFAULTS.brokenPodLabelKey),
      brokenPodLabelValue: str('repair.brokenPodLabelValue', REPAIR_DEFAULTS.brokenPodLabelValue),
    },
    nativeNftables: bool('nativeNftables', false),
  };
}
