// Types of the well-known settings under spec.values and spec.meshConfig. The CRD keeps both open (any field,
// any type), as Istio's does; Istio itself reads values into its Values proto and meshConfig into MeshConfig, so a
// wrong type there is refused by istioctl. Without these checks a `values.pilot.replicaCount: "x"` rendered as one
// replica and a `meshConfig.defaultConfig.concurrency: "lots"` reached istiod's ConfigMap, and the IstioOperator
// was reported HEALTHY. Settings not listed here are passed through as before.
import { InvalidSpecError } from './errors.js';
import { isRecord } from './json.js';

type Kind = 'object' | 'string' | 'boolean' | 'number' | 'uint' | 'int' | 'scalar' | 'stringMap' | 'stringList' | readonly string[];

/** Paths relative to spec, with the type Istio's protos give them (uint32 → uint, Int32Value → int, Struct → object). */
const KNOWN: readonly (readonly [string, Kind])[] = [
  // values.pilot (PilotConfig)
  ['values.pilot', 'object'],
  ['values.pilot.replicaCount', 'uint'],
  ['values.pilot.autoscaleEnabled', 'boolean'],
  ['values.pilot.autoscaleMin', 'uint'],
  ['values.pilot.autoscaleMax', 'uint'],
  ['values.pilot.traceSampling', 'number'],
  ['values.pilot.configMap', 'boolean'],
  ['values.pilot.terminationGracePeriodSeconds', 'uint'],
  ['values.pilot.env', 'object'],
  ['values.pilot.nodeSelector', 'object'],
  ['values.pilot.podAnnotations', 'object'],
  ['values.pilot.deploymentLabels', 'object'],
  ['values.pilot.podLabels', 'object'],
  ['values.pilot.serviceAnnotations', 'object'],
  ['values.pilot.affinity', 'object'],
  ['values.pilot.hub', 'string'],
  ['values.pilot.tag', 'scalar'],
  ['values.pilot.variant', 'string'],
  ['values.pilot.image', 'string'],
  ['values.pilot.ipFamilies', 'stringList'],
  // values.global (GlobalConfig) and values.global.proxy (ProxyConfig)
  ['values.global', 'object'],
  ['values.global.hub', 'string'],
  ['values.global.tag', 'scalar'],
  ['values.global.istioNamespace', 'string'],
  ['values.global.logAsJson', 'boolean'],
  ['values.global.proxy', 'object'],
  ['values.global.proxy.privileged', 'boolean'],
  ['values.global.proxy.readinessInitialDelaySeconds', 'uint'],
  ['values.global.proxy.readinessPeriodSeconds', 'uint'],
  ['values.global.proxy.readinessFailureThreshold', 'uint'],
  ['values.global.proxy.statusPort', 'uint'],
  ['values.global.proxy.logLevel', 'string'],
  ['values.global.proxy.componentLogLevel', 'string'],
  ['values.global.proxy.clusterDomain', 'string'],
  ['values.global.proxy.image', 'string'],
  ['values.global.proxy.autoInject', 'string'],
  ['values.global.proxy.includeIPRanges', 'string'],
  ['values.global.proxy.excludeIPRanges', 'string'],
  ['values.global.proxy.includeInboundPorts', 'string'],
  ['values.global.proxy.excludeInboundPorts', 'string'],
  ['values.global.proxy.includeOutboundPorts', 'string'],
  ['values.global.proxy.excludeOutboundPorts', 'string'],
  // meshConfig (MeshConfig) and meshConfig.defaultConfig (ProxyConfig)
  ['meshConfig.enableTracing', 'boolean'],
  ['meshConfig.enableAutoMtls', 'boolean'],
  ['meshConfig.enablePrometheusMerge', 'boolean'],
  ['meshConfig.accessLogFile', 'string'],
  ['meshConfig.accessLogFormat', 'string'],
  ['meshConfig.accessLogEncoding', ['TEXT', 'JSON']],
  ['meshConfig.trustDomain', 'string'],
  ['meshConfig.trustDomainAliases', 'stringList'],
  ['meshConfig.rootNamespace', 'string'],
  ['meshConfig.outboundTrafficPolicy', 'object'],
  ['meshConfig.outboundTrafficPolicy.mode', ['REGISTRY_ONLY', 'ALLOW_ANY']],
  ['meshConfig.defaultConfig', 'object'],
  ['meshConfig.defaultConfig.concurrency', 'int'],
  ['meshConfig.defaultConfig.proxyMetadata', 'stringMap'],
  ['meshConfig.defaultConfig.holdApplicationUntilProxyStarts', 'boolean'],
  ['meshConfig.defaultConfig.discoveryAddress', 'string'],
];

/** The value quoted in a message: JSON, long ones shortened. */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 60)}… (${text.length} characters)` : text;
}

/** An integer as protobuf's JSON mapping reads one: a number, or a string of decimal digits. */
function asInteger(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

const inRange = (value: unknown, min: number, max: number): boolean => {
  const n = asInteger(value);
  return n !== undefined && n >= min && n < max;
};

/** Per kind: whether a value has it, and what the message says otherwise. */
const CHECKS: Record<Exclude<Kind, readonly string[]>, [(value: unknown) => boolean, string]> = {
  object: [isRecord, 'must be an object'],
  string: [(v) => typeof v === 'string', 'must be a string'],
  boolean: [(v) => typeof v === 'boolean', 'must be true or false'],
  number: [(v) => typeof v === 'number' && Number.isFinite(v), 'must be a number'],
  scalar: [(v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)), 'must be a string or a number'],
  int: [(v) => inRange(v, -(2 ** 31), 2 ** 31), 'must be an integer'],
  uint: [(v) => inRange(v, 0, 2 ** 32), 'must be a whole number, 0 or more'],
  stringMap: [(v) => isRecord(v) && Object.values(v).every((x) => typeof x === 'string'), 'must be a map of strings'],
  stringList: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'must be a list of strings'],
};

function check(value: unknown, kind: Kind): string | undefined {
  if (typeof kind !== 'string') return typeof value === 'string' && kind.includes(value) ? undefined : `must be one of ${kind.join(', ')}`;
  const [ok, message] = CHECKS[kind];
  return ok(value) ? undefined : message;
}

/** Refuses the first well-known setting of spec (profile applied) whose type is wrong, naming its field. */
export function checkValueTypes(spec: Record<string, unknown>): void {
  for (const [path, kind] of KNOWN) {
    let value: unknown = spec;
    for (const key of path.split('.')) {
      value = isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
      if (value === undefined) break;
    }
    if (value === undefined || value === null) continue;
    const problem = check(value, kind);
    if (problem) throw new InvalidSpecError(path.startsWith('meshConfig') ? `spec.${path}` : path, `${problem}, not ${quoted(value)}`);
  }
}

/** An integer setting checked by checkValueTypes, as a number (protobuf's JSON mapping allows "3"). */
export function integerValue(value: unknown): number | undefined {
  return asInteger(value);
}
