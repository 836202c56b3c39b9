// The typed configuration of the rule engine and its validation. Every raw value is parsed here, and every
// mistake is a ConfigError that names where the value came from (a flag, an environment variable or a pod
// annotation). Pure: the environment is passed in as a plain map.
import { type Cidr, type Family, parseCidr, parseIp, hostCidr } from './addr.js';

export type InterceptionMode = 'REDIRECT' | 'TPROXY';

/** Either every port/CIDR (`*`) or an explicit, possibly empty, list. */
export type Selection<T> = { readonly all: true } | { readonly all: false; readonly items: readonly T[] };

/**
 * Owner-group filter on outbound capture (ISTIO_OUTBOUND_OWNER_GROUPS / _EXCLUDE): `all-except` captures every
 * group but the listed ones, `only` captures the listed groups only.
 */
export interface OwnerGroups {
  readonly mode: 'all-except' | 'only';
  readonly groups: readonly string[];
}

export interface IptablesConfig {
  /** -p: Envoy's outbound capture port. */
  readonly proxyPort: number;
  /** -z: Envoy's inbound capture port. */
  readonly inboundCapturePort: number;
  /** -e: the inbound tunnel port that is never captured. */
  readonly inboundTunnelPort: number;
  /** -u: UIDs whose traffic is never captured (the proxy). */
  readonly proxyUids: readonly string[];
  /** -g: GIDs whose traffic is never captured (defaults to the UIDs). */
  readonly proxyGids: readonly string[];
  /** -m */
  readonly interceptionMode: InterceptionMode;
  /** -b: inbound ports to capture; `*` = all; empty = no inbound capture. */
  readonly inboundPorts: Selection<number>;
  /** -d: inbound ports excluded when -b is `*`. */
  readonly inboundPortsExclude: readonly number[];
  /** -i: outbound CIDRs to capture; `*` = all; empty = none. */
  readonly outboundCidrs: Selection<Cidr>;
  /** -x */
  readonly outboundCidrsExclude: readonly Cidr[];
  /** -q */
  readonly outboundPorts: readonly number[];
  /** -o */
  readonly outboundPortsExclude: readonly number[];
  /** -k: interfaces whose inbound traffic (from a VM) is treated as outbound. */
  readonly kubevirtInterfaces: readonly string[];
  /** -c: interfaces whose traffic is never captured. */
  readonly excludeInterfaces: readonly string[];
  /** -t: the TPROXY packet mark. */
  readonly tproxyMark: number;
  /** -r: the policy routing table used by TPROXY. */
  readonly tproxyRouteTable: number;
  /** --redirect-dns (default from ISTIO_META_DNS_CAPTURE). */
  readonly redirectDns: boolean;
  /** --capture-all-dns */
  readonly captureAllDns: boolean;
  /** --drop-invalid (default from INVALID_DROP). */
  readonly dropInvalid: boolean;
  /** --ipv6: also program ip6tables. */
  readonly ipv6: boolean;
  /** --dns-servers, split by family, as host CIDRs (`/32`, `/128`). */
  readonly dnsServers: { readonly v4: readonly string[]; readonly v6: readonly string[] };
  readonly ownerGroups: OwnerGroups;
  /** ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR */
  readonly ipv4LoopbackCidr: Cidr;
  /** --dry-run */
  readonly dryRun: boolean;
  /** --native-nftables: program inet tables with nft instead of iptables chains (same capture semantics). */
  readonly nativeNftables: boolean;
}

/** A configuration value is invalid; `source` names the flag, environment variable or annotation. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly detail: string,
  ) {
    super(`${source}: ${detail}`);
  }
}

export const ALWAYS_EXCLUDED_INBOUND_PORTS: readonly number[] = [15020, 15021, 15090];
export const DNS_LISTENER_PORT = 15053;
/** Istio includes at most this many owner groups, because they are combined into a single rule. */
export const MAX_OWNER_GROUPS_INCLUDE = 64;

const LOOPBACK = parseCidr('127.0.0.1/32') as Cidr;

export const DEFAULT_CONFIG: IptablesConfig = {
  proxyPort: 15001,
  inboundCapturePort: 15006,
  inboundTunnelPort: 15008,
  proxyUids: ['1337'],
  proxyGids: ['1337'],
  interceptionMode: 'REDIRECT',
  inboundPorts: { all: false, items: [] },
  inboundPortsExclude: [],
  outboundCidrs: { all: false, items: [] },
  outboundCidrsExclude: [],
  outboundPorts: [],
  outboundPortsExclude: [],
  kubevirtInterfaces: [],
  excludeInterfaces: [],
  tproxyMark: 1337,
  tproxyRouteTable: 133,
  redirectDns: false,
  captureAllDns: false,
  dropInvalid: false,
  ipv6: false,
  dnsServers: { v4: [], v6: [] },
  ownerGroups: { mode: 'all-except', groups: [] },
  ipv4LoopbackCidr: LOOPBACK,
  dryRun: false,
  nativeNftables: false,
};

// ---------------------------------------------------------------------------------------------------------------
// Value parsers, shared by flags and annotations. `source` names where the value came from.

/** Splits a comma list; blanks around items and empty items are ignored (as istio-iptables' split does). */
export function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function unique<T>(items: readonly T[], key: (t: T) => string = String): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function parsePort(value: string, source: string): number {
  const v = value.trim();
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) {
    throw new ConfigError(source, `"${value}" is not a port (1-65535)`);
  }
  return Number(v);
}

export function parsePortList(value: string, source: string): number[] {
  if (value.trim() === '*') throw new ConfigError(source, '"*" is not allowed here; list the ports');
  return unique(splitList(value).map((p) => parsePort(p, source)));
}

export function parsePortSelection(value: string, source: string): Selection<number> {
  if (value.trim() === '*') return { all: true };
  return { all: false, items: parsePortList(value, source) };
}

export function parseCidrList(value: string, source: string): Cidr[] {
  if (value.trim() === '*') throw new ConfigError(source, '"*" is not allowed here; list the CIDRs');
  const out = splitList(value).map((text) => {
    const cidr = parseCidr(text);
    if (cidr === undefined) throw new ConfigError(source, `"${text}" is not a CIDR (address/prefix)`);
    return cidr;
  });
  return unique(out, (c) => c.text);
}

export function parseCidrSelection(value: string, source: string): Selection<Cidr> {
  if (value.trim() === '*') return { all: true };
  return { all: false, items: parseCidrList(value, source) };
}

const MAX_ID = 4294967294;

/** Numeric UIDs/GIDs only: names would be resolved against the node's user database, not the pod's. */
export function parseIdList(value: string, source: string): string[] {
  const ids = splitList(value);
  for (const id of ids) {
    if (!/^\d{1,10}$/.test(id) || Number(id) > MAX_ID) {
      throw new ConfigError(source, `"${id}" is not a numeric id (names are not resolved: use the number)`);
    }
  }
  return unique(ids.map((id) => String(Number(id))));
}

const IFACE = /^[A-Za-z0-9_.@+-]{1,15}$/;

export function parseInterfaceList(value: string, source: string): string[] {
  const names = splitList(value);
  for (const n of names) {
    if (!IFACE.test(n) || n.startsWith('-') || n === '.' || n === '..') {
      throw new ConfigError(source, `"${n}" is not an interface name`);
    }
  }
  return unique(names);
}

export function parseInterceptionMode(value: string, source: string): InterceptionMode {
  const v = value.trim();
  if (v === 'REDIRECT' || v === 'TPROXY') return v;
  throw new ConfigError(source, `"${value}" is not an interception mode (REDIRECT or TPROXY)`);
}

/** A mark or routing table number: decimal or 0x-hex, 32-bit. */
export function parseUint32(value: string, source: string, min = 0): number {
  const v = value.trim();
  const n = /^0x[0-9a-fA-F]{1,8}$/.test(v) ? parseInt(v, 16) : /^\d{1,10}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > 0xffffffff) {
    throw new ConfigError(source, `"${value}" is not a number between ${min} and 4294967295`);
  }
  return n;
}

/** Go's strconv.ParseBool, which istio-iptables uses for its boolean flags and environment variables. */
export function parseBool(value: string, source: string): boolean {
  const v = value.trim();
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new ConfigError(source, `"${value}" is not a boolean (true or false)`);
}

export function parseDnsServers(value: string, source: string): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const s of splitList(value)) {
    const ip = parseIp(s);
    if (ip === undefined) throw new ConfigError(source, `"${s}" is not an IP address`);
    (ip.family === 'v4' ? v4 : v6).push(hostCidr(ip));
  }
  return { v4: unique(v4), v6: unique(v6) };
}

const GROUP_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** Group name → gid, from the text of an /etc/group file. */
export function parseGroupFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name !== undefined && name !== '' && gid !== undefined && /^\d{1,10}$/.test(gid) && !out.has(name)) out.set(name, Number(gid));
  }
  return out;
}

/**
 * Owner groups by number or by name. istio-iptables passes names to iptables, which resolves them against the
 * group database when the rule is added, and iptables-save prints the number: names are resolved here the same
 * way, so the rules compare equal to the kernel's.
 */
export function parseGroupList(value: string, source: string, groups: ReadonlyMap<string, number> | undefined): string[] {
  const ids = splitList(value).map((g) => {
    if (/^\d+$/.test(g)) return parseIdList(g, source)[0] as string;
    if (!GROUP_NAME.test(g)) throw new ConfigError(source, `"${g}" is neither a numeric group id nor a group name`);
    const gid = groups?.get(g);
    if (gid === undefined) throw new ConfigError(source, `group "${g}" is not in the group database (/etc/group)`);
    return String(gid);
  });
  return unique(ids);
}

export function parseOwnerGroups(
  include: string,
  exclude: string,
  includeSource: string,
  excludeSource: string,
  groupDb?: ReadonlyMap<string, number>,
): OwnerGroups {
  if (include.trim() === '*') return { mode: 'all-except', groups: parseGroupList(exclude, excludeSource, groupDb) };
  const groups = parseGroupList(include, includeSource, groupDb);
  if (groups.length === 0) {
    throw new ConfigError(includeSource, 'an empty list would capture no outbound traffic at all; use "*" to capture every group');
  }
  if (groups.length > MAX_OWNER_GROUPS_INCLUDE) {
    throw new ConfigError(includeSource, `at most ${MAX_OWNER_GROUPS_INCLUDE} groups can be included, got ${groups.length}`);
  }
  return { mode: 'only', groups };
}

export function parseIpv4LoopbackCidr(value: string, source: string): Cidr {
  const cidr = parseCidr(value.trim());
  if (cidr === undefined || cidr.family !== 'v4' || !cidr.loopback || cidr.prefix < 8) {
    throw new ConfigError(source, `"${value}" is not an IPv4 loopback CIDR inside 127.0.0.0/8 (prefix 8-32)`);
  }
  return cidr;
}

// ---------------------------------------------------------------------------------------------------------------
// Flags + environment → config, with istio-iptables' precedence: flag, then environment variable, then default.

/** Raw flag values by long flag name (as istio-iptables names them), after command-line parsing. */
export type RawFlags = Partial<Record<FlagName, string>>;

export type FlagName = (typeof FLAGS)[number]['long'];

export interface FlagSpec {
  readonly long: string;
  readonly short?: string;
  readonly env?: string;
  readonly boolean?: boolean;
  readonly help: string;
}

/**
 * istio-iptables' flags. Like istio-iptables (viper's AutomaticEnv), each flag can also come from the environment
 * variable named after it in upper case with `-` → `_`.
 */
export const FLAGS = [
  { long: 'envoy-port', short: 'p', env: 'ENVOY_PORT', help: 'Envoy port to which all outbound TCP traffic is redirected (default 15001)' },
  { long: 'inbound-capture-port', short: 'z', env: 'INBOUND_CAPTURE_PORT', help: 'Port to which all inbound TCP traffic is redirected (default 15006)' },
  { long: 'inbound-tunnel-port', short: 'e', env: 'INBOUND_TUNNEL_PORT', help: 'Istio tunnel port for inbound TCP traffic, never captured (default 15008)' },
  { long: 'proxy-uid', short: 'u', env: 'PROXY_UID', help: 'Comma list of UIDs whose traffic is not captured (default 1337)' },
  { long: 'proxy-gid', short: 'g', env: 'PROXY_GID', help: 'Comma list of GIDs whose traffic is not captured (default: the UIDs)' },
  { long: 'istio-inbound-interception-mode', short: 'm', env: 'ISTIO_INBOUND_INTERCEPTION_MODE', help: 'Inbound interception mode: REDIRECT or TPROXY' },
  { long: 'istio-inbound-ports', short: 'b', env: 'ISTIO_INBOUND_PORTS', help: 'Comma list of inbound ports to capture, "*" for all, empty for none' },
  { long: 'istio-local-exclude-ports', short: 'd', env: 'ISTIO_LOCAL_EXCLUDE_PORTS', help: 'Comma list of inbound ports not captured (only with -b "*")' },
  { long: 'istio-exclude-interfaces', short: 'c', env: 'ISTIO_EXCLUDE_INTERFACES', help: 'Comma list of interfaces whose traffic is never captured' },
  { long: 'istio-service-cidr', short: 'i', env: 'ISTIO_SERVICE_CIDR', help: 'Comma list of outbound CIDRs to capture, "*" for all, empty for none' },
  { long: 'istio-service-exclude-cidr', short: 'x', env: 'ISTIO_SERVICE_EXCLUDE_CIDR', help: 'Comma list of outbound CIDRs never captured' },
  { long: 'istio-outbound-ports', short: 'q', env: 'ISTIO_OUTBOUND_PORTS', help: 'Comma list of outbound ports always captured' },
  { long: 'istio-local-outbound-ports-exclude', short: 'o', env: 'ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE', help: 'Comma list of outbound ports never captured' },
  { long: 'kube-virt-interfaces', short: 'k', env: 'KUBE_VIRT_INTERFACES', help: 'Comma list of virtual interfaces whose inbound traffic is treated as outbound' },
  { long: 'istio-inbound-tproxy-mark', short: 't', env: 'ISTIO_INBOUND_TPROXY_MARK', help: 'TPROXY packet mark (default 1337)' },
  { long: 'istio-inbound-tproxy-route-table', short: 'r', env: 'ISTIO_INBOUND_TPROXY_ROUTE_TABLE', help: 'TPROXY policy routing table (default 133)' },
  { long: 'dry-run', short: 'n', env: 'DRY_RUN', boolean: true, help: 'Print the iptables-restore input instead of applying it' },
  { long: 'restore-format', short: 'f', env: 'RESTORE_FORMAT', boolean: true, help: 'Accepted for compatibility; rules are always applied with iptables-restore' },
  { long: 'redirect-dns', env: 'REDIRECT_DNS', boolean: true, help: 'Capture DNS to the agent on 15053 (default $ISTIO_META_DNS_CAPTURE)' },
  { long: 'capture-all-dns', env: 'CAPTURE_ALL_DNS', boolean: true, help: 'Capture DNS to every server, not only --dns-servers' },
  { long: 'drop-invalid', env: 'DROP_INVALID', boolean: true, help: 'Drop packets in conntrack state INVALID (default $INVALID_DROP)' },
  { long: 'ipv6', boolean: true, help: 'Also program ip6tables (the pod has an IPv6 address)' },
  { long: 'native-nftables', boolean: true, help: 'Program native nftables (inet tables istio-proxy-nat/-mangle/-raw, one nft -f) instead of iptables' },
  { long: 'dns-servers', help: 'Comma list of the DNS servers captured by --redirect-dns (default: the nameservers of /etc/resolv.conf)' },
] as const satisfies readonly FlagSpec[];

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * What istio-iptables reads from the machine it runs on. Each reader returns the file's text, or undefined when
 * the file cannot be read. Without a reader the file counts as empty.
 */
export interface HostFiles {
  /** /etc/resolv.conf: the DNS servers captured by --redirect-dns when --dns-servers is not given. */
  readonly resolvConf?: () => string | undefined;
  /** /etc/group: owner group names in ISTIO_OUTBOUND_OWNER_GROUPS[_EXCLUDE]. */
  readonly groupFile?: () => string | undefined;
}

export const RESOLV_CONF = '/etc/resolv.conf';
export const GROUP_FILE = '/etc/group';

/** The `nameserver` addresses of a resolv.conf, in order; entries that are not IP addresses are skipped. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null && parseIp(m[1] as string) !== undefined) out.push(m[1] as string);
  }
  return out;
}

export const ENV_OWNER_GROUPS = 'ISTIO_OUTBOUND_OWNER_GROUPS';
export const ENV_OWNER_GROUPS_EXCLUDE = 'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE';
export const ENV_IPV4_LOOPBACK_CIDR = 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR';
export const ENV_DNS_CAPTURE = 'ISTIO_META_DNS_CAPTURE';
export const ENV_INVALID_DROP = 'INVALID_DROP';

function specOf(name: FlagName): FlagSpec {
  return FLAGS.find((f) => f.long === name) as FlagSpec;
}

/** How a flag is named in messages: `-p/--envoy-port`. */
export function flagLabel(name: FlagName): string {
  const s = specOf(name);
  return s.short === undefined ? `--${s.long}` : `-${s.short}/--${s.long}`;
}

interface Lookup {
  /** The raw value and its source label, or undefined when neither flag nor environment sets it. */
  (name: FlagName): { value: string; source: string } | undefined;
}

function lookupIn(flags: RawFlags, env: Env): Lookup {
  return (name) => {
    const flag = flags[name];
    if (flag !== undefined) return { value: flag, source: flagLabel(name) };
    const envName = specOf(name).env;
    const fromEnv = envName === undefined ? undefined : env[envName];
    if (envName !== undefined && fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: envName };
    return undefined;
  };
}

function envValue(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

function boolWithEnvDefault(get: Lookup, env: Env, name: FlagName, defaultEnv: string): boolean {
  const raw = get(name);
  if (raw !== undefined) return parseBool(raw.value, raw.source);
  const fallback = envValue(env, defaultEnv);
  return fallback === undefined ? false : parseBool(fallback, defaultEnv);
}

function parsed<T>(get: Lookup, name: FlagName, parse: (v: string, source: string) => T, fallback: T): T {
  const raw = get(name);
  return raw === undefined ? fallback : parse(raw.value, raw.source);
}

function resolvePorts(get: Lookup): Pick<IptablesConfig, 'proxyPort' | 'inboundCapturePort' | 'inboundTunnelPort' | 'inboundPorts' | 'inboundPortsExclude' | 'outboundPorts' | 'outboundPortsExclude'> {
  const d = DEFAULT_CONFIG;
  return {
    proxyPort: parsed(get, 'envoy-port', parsePort, d.proxyPort),
    inboundCapturePort: parsed(get, 'inbound-capture-port', parsePort, d.inboundCapturePort),
    inboundTunnelPort: parsed(get, 'inbound-tunnel-port', parsePort, d.inboundTunnelPort),
    inboundPorts: parsed(get, 'istio-inbound-ports', parsePortSelection, d.inboundPorts),
    inboundPortsExclude: parsed(get, 'istio-local-exclude-ports', parsePortList, d.inboundPortsExclude),
    outboundPorts: parsed(get, 'istio-outbound-ports', parsePortList, d.outboundPorts),
    outboundPortsExclude: parsed(get, 'istio-local-outbound-ports-exclude', parsePortList, d.outboundPortsExclude),
  };
}

/**
 * DNS capture. As istio-iptables does, the servers come from /etc/resolv.conf (unless --dns-servers names them),
 * and capture is off when neither capture-all nor any server is left.
 */
function resolveDns(get: Lookup, env: Env, host: HostFiles): Pick<IptablesConfig, 'redirectDns' | 'captureAllDns' | 'dnsServers'> {
  const redirectDns = boolWithEnvDefault(get, env, 'redirect-dns', ENV_DNS_CAPTURE);
  const captureAllDns = parsed(get, 'capture-all-dns', parseBool, false);
  let dnsServers = parsed(get, 'dns-servers', parseDnsServers, { v4: [], v6: [] });
  if (redirectDns && !captureAllDns && get('dns-servers') === undefined && host.resolvConf !== undefined) {
    const text = host.resolvConf();
    if (text === undefined) throw new ConfigError(RESOLV_CONF, 'cannot be read, and DNS capture needs its nameservers (or --dns-servers)');
    dnsServers = parseDnsServers(parseResolvConf(text).join(','), RESOLV_CONF);
  }
  const none = dnsServers.v4.length + dnsServers.v6.length === 0;
  return { redirectDns: redirectDns && (captureAllDns || !none), captureAllDns, dnsServers };
}

function groupDatabase(host: HostFiles, ...values: Array<string | undefined>): Map<string, number> | undefined {
  // Read only when some value names a group.
  const named = values.some((v) => v !== undefined && v.trim() !== '*' && splitList(v).some((g) => !/^\d+$/.test(g)));
  if (!named || host.groupFile === undefined) return undefined;
  const text = host.groupFile();
  return text === undefined ? undefined : parseGroupFile(text);
}

/**
 * Builds the validated config from istio-iptables flags and environment knobs (and, like istio-iptables, the
 * host's resolv.conf and group database when a value needs them). Throws ConfigError naming the flag or variable
 * of the first invalid value.
 */
export function resolveConfig(flags: RawFlags, env: Env, host: HostFiles = {}): IptablesConfig {
  const get = lookupIn(flags, env);
  const d = DEFAULT_CONFIG;
  const proxyUids = parsed(get, 'proxy-uid', parseIdList, d.proxyUids);
  const gids = parsed(get, 'proxy-gid', parseIdList, [] as string[]);
  const includeGroups = envValue(env, ENV_OWNER_GROUPS) ?? '*';
  const excludeGroups = envValue(env, ENV_OWNER_GROUPS_EXCLUDE) ?? '';
  const loopback = envValue(env, ENV_IPV4_LOOPBACK_CIDR);
  const outboundCidrsExclude = parsed(get, 'istio-service-exclude-cidr', parseCidrList, d.outboundCidrsExclude);
  return {
    ...resolvePorts(get),
    proxyUids: proxyUids.length > 0 ? proxyUids : d.proxyUids,
    // As in istio-iptables: without -g the proxy's GIDs are its UIDs.
    proxyGids: gids.length > 0 ? gids : proxyUids.length > 0 ? proxyUids : d.proxyGids,
    interceptionMode: parsed(get, 'istio-inbound-interception-mode', parseInterceptionMode, d.interceptionMode),
    outboundCidrs: parsed(get, 'istio-service-cidr', parseCidrSelection, d.outboundCidrs),
    outboundCidrsExclude,
    kubevirtInterfaces: parsed(get, 'kube-virt-interfaces', parseInterfaceList, d.kubevirtInterfaces),
    excludeInterfaces: parsed(get, 'istio-exclude-interfaces', parseInterfaceList, d.excludeInterfaces),
    tproxyMark: parsed(get, 'istio-inbound-tproxy-mark', (v, s) => parseUint32(v, s, 1), d.tproxyMark),
    tproxyRouteTable: parsed(get, 'istio-inbound-tproxy-route-table', (v, s) => parseUint32(v, s, 1), d.tproxyRouteTable),
    ...resolveDns(get, env, host),
    dropInvalid: boolWithEnvDefault(get, env, 'drop-invalid', ENV_INVALID_DROP),
    ipv6: parsed(get, 'ipv6', parseBool, false),
    ownerGroups: parseOwnerGroups(includeGroups, excludeGroups, ENV_OWNER_GROUPS, ENV_OWNER_GROUPS_EXCLUDE, groupDatabase(host, includeGroups, excludeGroups)),
    ipv4LoopbackCidr: loopback === undefined ? d.ipv4LoopbackCidr : parseIpv4LoopbackCidr(loopback, ENV_IPV4_LOOPBACK_CIDR),
    dryRun: parsed(get, 'dry-run', parseBool, false),
    nativeNftables: parsed(get, 'native-nftables', parseBool, false),
  };
}

/** The families a config programs, in order. */
export function familiesOf(config: IptablesConfig): Family[] {
  return config.ipv6 ? ['v4', 'v6'] : ['v4'];
}
