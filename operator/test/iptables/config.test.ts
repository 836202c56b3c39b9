import { expect } from 'chai';
import { ConfigError, DEFAULT_CONFIG, type HostFiles, RESOLV_CONF, buildRuleSet, formatIp, parseArgs, parseCidr, parseGroupFile, parseIp, parseResolvConf, resolveConfig } from '../../src/iptables/index.js';

describe('iptables addresses', () => {
  const ips: Array<[string, string | undefined]> = [
    ['10.96.0.10', '10.96.0.10'],
    ['fd00:0:0::0a', 'fd00::a'],
    ['FD00::A', 'fd00::a'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::127.0.0.53', '::127.0.0.53'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['256.0.0.1', undefined],
    ['01.2.3.4', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    ['fe80::1%eth0', undefined],
    ['', undefined],
  ];
  for (const [text, want] of ips) {
    it(`prints ${JSON.stringify(text)} as iptables-save does (${String(want)})`, () => {
      const ip = parseIp(text);
      expect(ip === undefined ? undefined : formatIp(ip)).to.equal(want);
    });
  }

  it('masks CIDRs to their network and remembers whether the written address was loopback', () => {
    expect(parseCidr('10.1.2.3/8')).to.deep.include({ text: '10.0.0.0/8', loopback: false });
    expect(parseCidr('127.0.0.1/8')).to.deep.include({ text: '127.0.0.0/8', loopback: true });
    expect(parseCidr('2001:db8::1/32')).to.deep.include({ text: '2001:db8::/32', family: 'v6' });
    expect(parseCidr('::1/128')).to.deep.include({ loopback: true });
    expect(parseCidr('10.0.0.0')).to.equal(undefined);
    expect(parseCidr('10.0.0.0/33')).to.equal(undefined);
    expect(parseCidr('::/129')).to.equal(undefined);
  });
});

describe('iptables config', () => {
  const resolve = (argv: string[], env: Record<string, string> = {}) => resolveConfig(parseArgs(argv).flags, env);

  it('has istio-iptables defaults when nothing is given', () => {
    expect(resolve([])).to.deep.equal(DEFAULT_CONFIG);
  });

  it('prefers a flag over its environment variable over the default', () => {
    expect(resolve(['-p', '1000'], { ENVOY_PORT: '2000' }).proxyPort).to.equal(1000);
    expect(resolve([], { ENVOY_PORT: '2000' }).proxyPort).to.equal(2000);
    expect(resolve([], { ENVOY_PORT: '' }).proxyPort).to.equal(15001);
  });

  it('takes --redirect-dns and --drop-invalid defaults from ISTIO_META_DNS_CAPTURE and INVALID_DROP', () => {
    const c = resolve(['--capture-all-dns'], { ISTIO_META_DNS_CAPTURE: 'true', INVALID_DROP: '1' });
    expect([c.redirectDns, c.dropInvalid]).to.deep.equal([true, true]);
    expect(resolve(['--redirect-dns=false'], { ISTIO_META_DNS_CAPTURE: 'true' }).redirectDns).to.equal(false);
  });

  it('uses the UIDs as GIDs unless -g is given', () => {
    expect(resolve(['-u', '3,4']).proxyGids).to.deep.equal(['3', '4']);
    expect(resolve(['-u', '3', '-g', '5']).proxyGids).to.deep.equal(['5']);
  });

  it('splits DNS servers by family as host CIDRs', () => {
    expect(resolve(['--redirect-dns', '--dns-servers', '10.0.0.10, fd00::0a']).dnsServers).to.deep.equal({ v4: ['10.0.0.10/32'], v6: ['fd00::a/128'] });
  });

  it('reads owner groups and the loopback CIDR from the environment only', () => {
    const c = resolve([], { ISTIO_OUTBOUND_OWNER_GROUPS: '5,6', ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' });
    expect(c.ownerGroups).to.deep.equal({ mode: 'only', groups: ['5', '6'] });
    expect(c.ipv4LoopbackCidr.text).to.equal('127.0.0.0/8');
    expect(resolve([], { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '7' }).ownerGroups).to.deep.equal({ mode: 'all-except', groups: ['7'] });
  });

  describe('DNS servers from /etc/resolv.conf, as istio-iptables reads them', () => {
    const host = (text: string | undefined): HostFiles => ({ resolvConf: () => text });
    const withHost = (argv: string[], h: HostFiles, env: Record<string, string> = {}) => resolveConfig(parseArgs(argv).flags, env, h);

    it('captures DNS to the nameservers of resolv.conf when --dns-servers is not given', () => {
      const c = withHost(['--redirect-dns'], host('search svc.cluster.local\nnameserver 10.96.0.10\n# nameserver 9.9.9.9\nnameserver fd00::a\noptions ndots:5\n'));
      expect([c.redirectDns, c.dnsServers]).to.deep.equal([true, { v4: ['10.96.0.10/32'], v6: ['fd00::a/128'] }]);
    });

    it('turns DNS capture off, without an error, when resolv.conf has no nameserver', () => {
      const c = withHost(['--redirect-dns', '-i', '*'], host('search local\n'));
      expect(c.redirectDns).to.equal(false);
      expect(buildRuleSet(c)).to.deep.equal(buildRuleSet(resolve(['-i', '*'])));
      expect(withHost([], host(''), { ISTIO_META_DNS_CAPTURE: 'true' }).redirectDns).to.equal(false);
    });

    it('does not read resolv.conf with --dns-servers or --capture-all-dns', () => {
      const unread: HostFiles = { resolvConf: () => expect.fail('resolv.conf was read') };
      expect(withHost(['--redirect-dns', '--dns-servers', '10.0.0.1'], unread).dnsServers.v4).to.deep.equal(['10.0.0.1/32']);
      expect(withHost(['--redirect-dns', '--capture-all-dns'], unread).redirectDns).to.equal(true);
      expect(withHost(['-i', '*'], unread).redirectDns).to.equal(false);
    });

    it('names /etc/resolv.conf when it cannot be read', () => {
      expect(() => withHost(['--redirect-dns'], host(undefined)))
        .to.throw(ConfigError)
        .with.property('source', RESOLV_CONF);
    });
  });

  describe('owner groups by name, resolved as iptables resolves them', () => {
    const groupFile = 'root:x:0:\nftp:x:50:\njava:x:1200:app\nbroken line\n';
    const withGroups = (env: Record<string, string>) => resolveConfig({}, env, { groupFile: () => groupFile });

    it('accepts group names next to numbers and writes the numbers iptables-save prints', () => {
      expect(withGroups({ ISTIO_OUTBOUND_OWNER_GROUPS: 'java,1001,ftp,50' }).ownerGroups).to.deep.equal({ mode: 'only', groups: ['1200', '1001', '50'] });
      expect(withGroups({ ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ftp' }).ownerGroups).to.deep.equal({ mode: 'all-except', groups: ['50'] });
    });

    it('reads the group database only when a name is given', () => {
      const c = resolveConfig({}, { ISTIO_OUTBOUND_OWNER_GROUPS: '7' }, { groupFile: () => expect.fail('/etc/group was read') });
      expect(c.ownerGroups.groups).to.deep.equal(['7']);
    });

    it('names the variable of a group the database does not have', () => {
      expect(() => withGroups({ ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ftp,nogroup' }))
        .to.throw(ConfigError, /"nogroup"/)
        .with.property('source', 'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE');
    });

    it('parses group files and resolv.conf leniently', () => {
      expect([...parseGroupFile(groupFile)]).to.deep.equal([['root', 0], ['ftp', 50], ['java', 1200]]);
      expect(parseResolvConf('nameserver 1.1.1.1\nnameserver fe80::1%eth0\n  nameserver   ::1  \n')).to.deep.equal(['1.1.1.1', '::1']);
    });
  });

  const invalid: Array<[string, string[], Record<string, string>, string]> = [
    ['a port that is not a number', ['-p', 'http'], {}, '-p/--envoy-port'],
    ['a port out of range', ['-z', '70000'], {}, '-z/--inbound-capture-port'],
    ['a bad inbound port in a list', ['-b', '80,x'], {}, '-b/--istio-inbound-ports'],
    ['a bad CIDR', ['-i', '10.0.0.0/33'], {}, '-i/--istio-service-cidr'],
    ['a CIDR without prefix', ['-x', '10.0.0.1'], {}, '-x/--istio-service-exclude-cidr'],
    ['a wildcard exclude CIDR', ['-x', '*'], {}, '-x/--istio-service-exclude-cidr'],
    ['an unknown interception mode', ['-m', 'NAT'], {}, '-m/--istio-inbound-interception-mode'],
    ['a user name instead of a UID', ['-u', 'istio-proxy'], {}, '-u/--proxy-uid'],
    ['a bad interface name', ['-c', 'eth/0'], {}, '-c/--istio-exclude-interfaces'],
    ['a too long interface name', ['-k', 'averyveryverylongname'], {}, '-k/--kube-virt-interfaces'],
    ['a bad TPROXY mark', ['-t', 'mark'], {}, '-t/--istio-inbound-tproxy-mark'],
    ['a zero route table', ['-r', '0'], {}, '-r/--istio-inbound-tproxy-route-table'],
    ['a bad boolean', ['--drop-invalid=yes'], {}, '--drop-invalid'],
    ['a bad DNS server', ['--redirect-dns', '--dns-servers', 'dns.local'], {}, '--dns-servers'],
    ['a bad port from the environment', [], { ISTIO_INBOUND_PORTS: '80,eighty' }, 'ISTIO_INBOUND_PORTS'],
    ['a group name without a group database', [], { ISTIO_OUTBOUND_OWNER_GROUPS: 'java' }, 'ISTIO_OUTBOUND_OWNER_GROUPS'],
    ['a malformed group name', [], { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ja va' }, 'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE'],
    ['too many included groups', [], { ISTIO_OUTBOUND_OWNER_GROUPS: Array.from({ length: 65 }, (_, i) => String(i + 1)).join(',') }, 'ISTIO_OUTBOUND_OWNER_GROUPS'],
    ['a loopback CIDR outside 127.0.0.0/8', [], { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '10.0.0.1/32' }, 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR'],
  ];
  for (const [what, argv, env, source] of invalid) {
    it(`rejects ${what}, naming ${source}`, () => {
      expect(() => resolve(argv, env))
        .to.throw(ConfigError)
        .with.property('source', source);
    });
  }
});
