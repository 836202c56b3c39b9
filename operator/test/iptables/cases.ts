// The golden cases: istio-iptables command lines (and environment knobs), one or more per flag and mode.
// Shared by the golden, CLI and real-kernel tests.
import type { HostFiles } from '../../src/iptables/index.js';

export interface GoldenCase {
  readonly name: string;
  readonly golden: string;
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** The /etc/resolv.conf and /etc/group that istio-iptables would read (none: both unread or empty). */
  readonly host?: HostFiles;
}

/** A container's /etc/group with a few named groups. */
const GROUPS = 'root:x:0:\nftp:x:50:\njava:x:1200:app\nistio-proxy:x:1337:\n';

/** What an injected istio-init runs for a default pod. */
const ISTIO_INIT = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

export const CASES: readonly GoldenCase[] = [
  { name: 'captures nothing but keeps the chains when no flag is given', golden: 'empty', argv: [] },
  { name: 'captures everything in and out like a default istio-init', golden: 'istio-init-default', argv: ISTIO_INIT },
  { name: 'captures only the listed inbound ports', golden: 'inbound-ports-include', argv: ['-b', '80,443', '-i', '*'] },
  { name: 'excludes only the listed inbound ports when capturing every inbound port (SSH too is captured)', golden: 'inbound-ports-wildcard-exclude', argv: ['-b', '*', '-d', '8080,9090'] },
  { name: 'captures inbound with TPROXY, marks and policy routing', golden: 'tproxy', argv: ['-m', 'TPROXY', '-b', '*', '-i', '*', '-d', '15090,15021,15020'] },
  { name: 'captures only the listed inbound ports with TPROXY', golden: 'tproxy-inbound-ports', argv: ['-m', 'TPROXY', '-b', '80,8080', '-i', '*'] },
  { name: 'uses the given TPROXY mark and routing table', golden: 'tproxy-mark-table', argv: ['-m', 'TPROXY', '-b', '*', '-t', '1500', '-r', '150'] },
  { name: 'redirects to the given proxy, inbound capture and tunnel ports', golden: 'custom-ports', argv: ['-p', '16001', '-z', '16006', '-e', '16008', '-b', '*', '-i', '*'] },
  { name: 'captures only the included outbound CIDRs and returns the rest', golden: 'outbound-cidrs-include', argv: ['-b', '*', '-i', '10.0.0.0/8,172.16.0.0/12'] },
  { name: 'returns excluded outbound CIDRs before capturing everything', golden: 'outbound-cidrs-exclude', argv: ['-i', '*', '-x', '10.96.0.0/12,169.254.169.254/32'] },
  { name: 'captures app-to-self loopback traffic when a loopback CIDR is included', golden: 'outbound-cidrs-loopback', argv: ['-i', '127.0.0.1/32,10.0.0.0/8'] },
  { name: 'captures the included outbound ports even without outbound CIDRs', golden: 'outbound-ports-include', argv: ['-q', '3306,5432', '-i', ''] },
  { name: 'returns excluded outbound ports first, for TCP and UDP', golden: 'outbound-ports-exclude', argv: ['-o', '9092,6379', '-i', '*'] },
  { name: 'never captures traffic of excluded interfaces', golden: 'exclude-interfaces', argv: ['-c', 'eth1,net2', '-b', '*', '-i', '*'] },
  { name: 'never captures traffic of excluded interfaces in TPROXY mode', golden: 'exclude-interfaces-tproxy', argv: ['-c', 'eth1', '-m', 'TPROXY', '-b', '*', '-i', '*'] },
  { name: 'treats all inbound traffic of kube-virt interfaces as outbound, in reverse flag order', golden: 'kubevirt-interfaces', argv: ['-k', 'vm0,vm1', '-b', '*', '-i', '*', '-c', 'eth1'] },
  { name: 'treats kube-virt inbound traffic to included CIDRs as outbound, in reverse order', golden: 'kubevirt-interfaces-cidrs', argv: ['-k', 'vm0,vm1', '-i', '10.0.0.0/8,10.96.0.0/12'] },
  { name: 'captures DNS to the given servers', golden: 'dns-servers', argv: ['--redirect-dns', '--dns-servers', '10.96.0.10,10.96.0.11', '-b', '*', '-i', '*'] },
  { name: 'captures DNS to every server with capture-all-dns', golden: 'dns-capture-all', argv: ['--redirect-dns', '--capture-all-dns', '-b', '*', '-i', '*'] },
  { name: 'turns DNS capture on from ISTIO_META_DNS_CAPTURE', golden: 'dns-env', argv: ['--dns-servers', '10.96.0.10', '-i', '*'], env: { ISTIO_META_DNS_CAPTURE: 'true' } },
  { name: 'drops packets in conntrack state INVALID', golden: 'drop-invalid', argv: ['--drop-invalid', '-b', '*', '-i', '*'] },
  { name: 'drops INVALID packets when INVALID_DROP is set', golden: 'drop-invalid-env', argv: ['-b', '*', '-i', '*'], env: { INVALID_DROP: 'true' } },
  { name: 'programs ip6tables with the same rules and IPv6 addresses', golden: 'ipv6', argv: ['--ipv6', '-b', '*', '-i', '*', '-x', '10.0.0.0/8,fd00::/8', '-d', '15090,15021,15020'] },
  { name: 'captures DNS per family with IPv6', golden: 'ipv6-dns', argv: ['--ipv6', '--redirect-dns', '--dns-servers', '10.96.0.10,fd00::10', '-i', '*'] },
  { name: 'adds no IPv6 nat DNS capture without IPv6 servers', golden: 'ipv6-dns-v4-servers', argv: ['--ipv6', '--redirect-dns', '--dns-servers', '10.96.0.10', '-b', '*', '-i', '*'] },
  { name: 'captures DNS to every server in both families with IPv6', golden: 'ipv6-dns-capture-all', argv: ['--ipv6', '--redirect-dns', '--capture-all-dns', '-i', '*'] },
  {
    name: 'captures DNS to the nameservers of /etc/resolv.conf without --dns-servers',
    golden: 'dns-resolv-conf',
    argv: ['--redirect-dns', '--ipv6', '-b', '*', '-i', '*'],
    host: { resolvConf: () => 'search svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\noptions ndots:5\n' },
  },
  {
    name: 'captures no DNS when /etc/resolv.conf has no nameserver',
    golden: 'dns-resolv-conf-empty',
    argv: ['--redirect-dns', '-b', '*', '-i', '*'],
    host: { resolvConf: () => 'search cluster.local\n' },
  },
  { name: 'keeps the inbound tunnel port out of the proxy loopback capture, with DNS', golden: 'tunnel-port-dns', argv: ['-e', '15009', '-b', '*', '-i', '*', '--redirect-dns', '--capture-all-dns'] },
  { name: 'uses TPROXY for both families with IPv6', golden: 'ipv6-tproxy', argv: ['--ipv6', '-m', 'TPROXY', '-b', '80', '-i', '*'] },
  { name: 'redirects kube-virt traffic for both families with IPv6', golden: 'ipv6-kubevirt', argv: ['--ipv6', '-k', 'vm0', '-i', '10.0.0.0/8,fd00::/8'] },
  { name: 'captures only the included owner groups', golden: 'owner-groups-include', argv: ['-i', '*'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: '1001,1002' } },
  { name: 'captures every owner group but the excluded ones', golden: 'owner-groups-exclude', argv: ['-i', '*'], env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,999' } },
  { name: 'resolves included owner group names through /etc/group', golden: 'owner-groups-names', argv: ['-i', '*'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: 'java,1001,ftp' }, host: { groupFile: () => GROUPS } },
  { name: 'resolves excluded owner group names through /etc/group', golden: 'owner-groups-names-exclude', argv: ['-i', '*', '--ipv6'], env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ftp,java' }, host: { groupFile: () => GROUPS } },
  { name: 'applies owner groups to DNS capture too', golden: 'owner-groups-dns', argv: ['-i', '*', '--redirect-dns', '--capture-all-dns'], env: { ISTIO_OUTBOUND_OWNER_GROUPS: '1001' } },
  { name: 'uses ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR as the loopback range', golden: 'loopback-cidr-env', argv: ['-b', '*', '-i', '*'], env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' } },
  { name: 'exempts every listed proxy UID and GID', golden: 'multiple-uids-gids', argv: ['-u', '1337,1338', '-g', '1400,1401', '-b', '*', '-i', '*'] },
  { name: 'uses the proxy UIDs as GIDs when no GID is given, with DNS', golden: 'uids-as-gids-dns', argv: ['-u', '3,4', '--redirect-dns', '--dns-servers', '127.0.0.53', '-i', '*'] },
  {
    name: 'reads flags from their environment variables',
    golden: 'env-flags',
    argv: [],
    env: { ENVOY_PORT: '15011', ISTIO_INBOUND_PORTS: '*', ISTIO_SERVICE_CIDR: '*', ISTIO_LOCAL_EXCLUDE_PORTS: '15020', ISTIO_INBOUND_INTERCEPTION_MODE: 'REDIRECT' },
  },
  {
    name: 'combines every option',
    golden: 'everything',
    argv: ['-m', 'TPROXY', '-b', '*', '-d', '15090,15021,15020', '-i', '*', '-x', '10.96.0.0/12', '-q', '8443', '-o', '9092', '-k', 'vm0', '-c', 'eth9', '--redirect-dns', '--dns-servers', '10.96.0.10,fd00::10', '--drop-invalid', '--ipv6', '-u', '1337', '-g', '1337,1400'],
    env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888' },
  },
];
