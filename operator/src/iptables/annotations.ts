// Pod annotations → the rule engine's config, as Istio 1.11's CNI plugin did it (cni/pkg/plugin/redirect.go and
// iptables.go). All or nothing: the first invalid annotation throws an AnnotationError naming it, so a pod is
// never programmed from a half-read config. Pure.
import { parse as parseYaml } from 'yaml';
import {
  ALWAYS_EXCLUDED_INBOUND_PORTS,
  ConfigError,
  DEFAULT_CONFIG,
  ENV_DNS_CAPTURE,
  ENV_INVALID_DROP,
  type IptablesConfig,
  parseBool,
  parseCidrList,
  parseCidrSelection,
  parseDnsServers,
  parseInterceptionMode,
  parseInterfaceList,
  parsePortList,
  parsePortSelection,
} from './config.js';

export const ANNOTATION = {
  includeOutboundIPRanges: 'traffic.sidecar.istio.io/includeOutboundIPRanges',
  excludeOutboundIPRanges: 'traffic.sidecar.istio.io/excludeOutboundIPRanges',
  includeInboundPorts: 'traffic.sidecar.istio.io/includeInboundPorts',
  excludeInboundPorts: 'traffic.sidecar.istio.io/excludeInboundPorts',
  includeOutboundPorts: 'traffic.sidecar.istio.io/includeOutboundPorts',
  excludeOutboundPorts: 'traffic.sidecar.istio.io/excludeOutboundPorts',
  kubevirtInterfaces: 'traffic.sidecar.istio.io/kubevirtInterfaces',
  excludeInterfaces: 'traffic.sidecar.istio.io/excludeInterfaces',
  interceptionMode: 'sidecar.istio.io/interceptionMode',
  proxyConfig: 'proxy.istio.io/config',
} as const;

/** An annotation holds an invalid value. `annotation` names it; the message says what is wrong. */
export class AnnotationError extends ConfigError {
  override name = 'AnnotationError';
  get annotation(): string {
    return this.source;
  }
}

export interface PodTraffic {
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * The environment of the pod's istio-proxy container, if the caller read it. As in Istio 1.11's plugin it
   * decides DNS capture (ISTIO_META_DNS_CAPTURE) and drop-invalid (INVALID_DROP); proxyMetadata in the
   * `proxy.istio.io/config` annotation is used for the keys the container does not set.
   */
  readonly proxyEnv?: Readonly<Record<string, string>>;
  /** The pod has an IPv6 address. */
  readonly ipv6?: boolean;
  /** Nameservers of the pod's resolv.conf (only used when DNS capture is on without capture-all). */
  readonly dnsServers?: readonly string[];
  /**
   * `securityContext.runAsUser` / `runAsGroup` of the istio-proxy container. As in Istio's CNI plugin, the proxy's
   * traffic is recognised by them (OpenShift and other platforms assign their own ids); unset or 0 means 1337.
   */
  readonly proxyUid?: number;
  readonly proxyGid?: number;
}

/** The proxy's uid and gid when the container does not set them (or sets 0). */
export const DEFAULT_PROXY_ID = '1337';

function proxyId(id: number | undefined): string {
  return id !== undefined && Number.isInteger(id) && id > 0 && id <= 4294967294 ? String(id) : DEFAULT_PROXY_ID;
}

/** Istio 1.11 CNI defaults for a pod without annotations. */
export const CNI_DEFAULTS = {
  includeOutboundIPRanges: '*',
  excludeOutboundIPRanges: '',
  includeInboundPorts: '*',
  excludeInboundPorts: '15020',
  includeOutboundPorts: '',
  excludeOutboundPorts: '15020',
  kubevirtInterfaces: '',
  excludeInterfaces: '',
  interceptionMode: 'REDIRECT',
} as const;

function wrap<T>(annotation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw new AnnotationError(annotation, err.detail);
    throw err;
  }
}

function value(annotations: Readonly<Record<string, string>>, name: keyof typeof ANNOTATION): string {
  return annotations[ANNOTATION[name]] ?? CNI_DEFAULTS[name as keyof typeof CNI_DEFAULTS];
}

function parseProxyConfig(raw: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(raw);
  } catch (err) {
    throw new AnnotationError(ANNOTATION.proxyConfig, `not valid YAML or JSON: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new AnnotationError(ANNOTATION.proxyConfig, 'must be a ProxyConfig object');
  return doc as Record<string, unknown>;
}

/** proxyMetadata of the `proxy.istio.io/config` annotation (YAML or JSON ProxyConfig). */
export function proxyMetadataOf(annotations: Readonly<Record<string, string>>): Record<string, string> {
  const raw = annotations[ANNOTATION.proxyConfig];
  if (raw === undefined || raw.trim() === '') return {};
  const meta = parseProxyConfig(raw).proxyMetadata;
  if (meta === undefined || meta === null) return {};
  if (typeof meta !== 'object' || Array.isArray(meta)) throw new AnnotationError(ANNOTATION.proxyConfig, 'proxyMetadata must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
    if (typeof v !== 'string' && typeof v !== 'boolean' && typeof v !== 'number') {
      throw new AnnotationError(ANNOTATION.proxyConfig, `proxyMetadata.${k} must be a string`);
    }
    out[k] = String(v);
  }
  return out;
}

/** A boolean proxy setting from the container env, else from the annotation's proxyMetadata. */
function proxyFlag(pod: PodTraffic, meta: Record<string, string>, name: string): boolean {
  const fromEnv = pod.proxyEnv?.[name];
  if (fromEnv !== undefined) return wrap(`istio-proxy env ${name}`, () => parseBool(fromEnv, name));
  const fromMeta = meta[name];
  if (fromMeta === undefined) return false;
  return wrap(ANNOTATION.proxyConfig, () => parseBool(fromMeta, `proxyMetadata.${name}`));
}

function inboundExcludes(annotations: Readonly<Record<string, string>>): number[] {
  const listed = wrap(ANNOTATION.excludeInboundPorts, () => parsePortList(value(annotations, 'excludeInboundPorts'), 'value'));
  // Istio's status, health and telemetry ports are never captured inbound.
  return [...new Set([...listed, ...ALWAYS_EXCLUDED_INBOUND_PORTS])];
}

/**
 * The config for a pod. Throws AnnotationError (a ConfigError) naming the first invalid annotation. The caller
 * decides beforehand whether the pod gets rules at all (sidecar present, injection on, interception not NONE).
 */
export function configFromPod(pod: PodTraffic): IptablesConfig {
  const a = pod.annotations ?? {};
  const meta = proxyMetadataOf(a);
  const redirectDns = proxyFlag(pod, meta, ENV_DNS_CAPTURE);
  const field = <T>(name: keyof typeof ANNOTATION, parse: (v: string, source: string) => T): T => wrap(ANNOTATION[name], () => parse(value(a, name), 'value'));
  const modeValue = value(a, 'interceptionMode');
  if (modeValue.trim() === 'NONE') {
    throw new AnnotationError(ANNOTATION.interceptionMode, 'NONE means no traffic capture: this pod must not be programmed');
  }
  return {
    ...DEFAULT_CONFIG,
    proxyUids: [proxyId(pod.proxyUid)],
    proxyGids: [proxyId(pod.proxyGid)],
    interceptionMode: field('interceptionMode', parseInterceptionMode),
    outboundCidrs: field('includeOutboundIPRanges', parseCidrSelection),
    outboundCidrsExclude: field('excludeOutboundIPRanges', parseCidrList),
    inboundPorts: field('includeInboundPorts', parsePortSelection),
    inboundPortsExclude: inboundExcludes(a),
    outboundPorts: field('includeOutboundPorts', parsePortList),
    outboundPortsExclude: field('excludeOutboundPorts', parsePortList),
    kubevirtInterfaces: field('kubevirtInterfaces', parseInterfaceList),
    excludeInterfaces: field('excludeInterfaces', parseInterfaceList),
    // Istio's CNI plugin captures DNS to every server, as it cannot know the pod's resolv.conf.
    redirectDns,
    captureAllDns: redirectDns,
    dropInvalid: proxyFlag(pod, meta, ENV_INVALID_DROP),
    ipv6: pod.ipv6 ?? false,
    dnsServers: parseDnsServers((pod.dnsServers ?? []).join(','), 'dnsServers'),
  };
}
