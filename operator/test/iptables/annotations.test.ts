import { expect } from 'chai';
import { ANNOTATION, AnnotationError, ConfigError, type IptablesConfig, configFromPod } from '../../src/iptables/index.js';

const summary = (c: IptablesConfig) => ({
  mode: c.interceptionMode,
  inbound: c.inboundPorts.all ? '*' : c.inboundPorts.items.join(','),
  inboundExclude: c.inboundPortsExclude.join(','),
  outbound: c.outboundCidrs.all ? '*' : c.outboundCidrs.items.map((x) => x.text).join(','),
  outboundExclude: c.outboundCidrsExclude.map((x) => x.text).join(','),
  outboundPorts: c.outboundPorts.join(','),
  outboundPortsExclude: c.outboundPortsExclude.join(','),
  kubevirt: c.kubevirtInterfaces.join(','),
  excludeInterfaces: c.excludeInterfaces.join(','),
  dns: c.redirectDns,
  captureAllDns: c.captureAllDns,
  dropInvalid: c.dropInvalid,
});

describe('pod annotations → iptables config', () => {
  it('captures everything but the Istio ports for a pod without annotations (Istio 1.11 CNI defaults)', () => {
    expect(summary(configFromPod({}))).to.deep.equal({
      mode: 'REDIRECT',
      inbound: '*',
      inboundExclude: '15020,15021,15090',
      outbound: '*',
      outboundExclude: '',
      outboundPorts: '',
      outboundPortsExclude: '15020',
      kubevirt: '',
      excludeInterfaces: '',
      dns: false,
      captureAllDns: false,
      dropInvalid: false,
    });
    expect(configFromPod({}).proxyUids).to.deep.equal(['1337']);
  });

  it("uses the istio-proxy container's runAsUser/runAsGroup as the proxy's uid and gid, 1337 when unset or 0", () => {
    const ids = (t: Parameters<typeof configFromPod>[0]) => {
      const c = configFromPod(t);
      return [c.proxyUids, c.proxyGids];
    };
    expect(ids({ proxyUid: 1000650000, proxyGid: 1000650000 })).to.deep.equal([['1000650000'], ['1000650000']]);
    expect(ids({ proxyUid: 2000 })).to.deep.equal([['2000'], ['1337']]);
    expect(ids({ proxyGid: 3000 })).to.deep.equal([['1337'], ['3000']]);
    expect(ids({ proxyUid: 0, proxyGid: 0 })).to.deep.equal([['1337'], ['1337']]);
  });

  it('maps every traffic annotation onto the config', () => {
    const c = configFromPod({
      annotations: {
        [ANNOTATION.includeOutboundIPRanges]: '10.0.0.0/8, 172.16.0.0/12',
        [ANNOTATION.excludeOutboundIPRanges]: '10.96.0.1/32',
        [ANNOTATION.includeInboundPorts]: '8080,9090',
        [ANNOTATION.excludeInboundPorts]: '9090,15021',
        [ANNOTATION.includeOutboundPorts]: '3306',
        [ANNOTATION.excludeOutboundPorts]: '5432',
        [ANNOTATION.kubevirtInterfaces]: 'net1',
        [ANNOTATION.excludeInterfaces]: 'eth1',
        [ANNOTATION.interceptionMode]: 'TPROXY',
      },
    });
    expect(summary(c)).to.deep.equal({
      mode: 'TPROXY',
      inbound: '8080,9090',
      inboundExclude: '9090,15021,15020,15090',
      outbound: '10.0.0.0/8,172.16.0.0/12',
      outboundExclude: '10.96.0.1/32',
      outboundPorts: '3306',
      outboundPortsExclude: '5432',
      kubevirt: 'net1',
      excludeInterfaces: 'eth1',
      dns: false,
      captureAllDns: false,
      dropInvalid: false,
    });
  });

  it('turns on DNS capture (to every server) and drop-invalid from proxy.istio.io/config proxyMetadata', () => {
    const yaml = 'proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: "true"\n  INVALID_DROP: "true"\n';
    expect(summary(configFromPod({ annotations: { [ANNOTATION.proxyConfig]: yaml } }))).to.include({ dns: true, captureAllDns: true, dropInvalid: true });
    const json = JSON.stringify({ proxyMetadata: { ISTIO_META_DNS_CAPTURE: 'True' } });
    expect(configFromPod({ annotations: { [ANNOTATION.proxyConfig]: json } }).redirectDns).to.equal(true);
  });

  it('prefers the istio-proxy container environment over the annotation', () => {
    const annotations = { [ANNOTATION.proxyConfig]: 'proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}' };
    expect(configFromPod({ annotations, proxyEnv: { ISTIO_META_DNS_CAPTURE: 'false' } }).redirectDns).to.equal(false);
  });

  it('passes through what the agent knows: IPv6 and DNS servers', () => {
    const c = configFromPod({ ipv6: true, dnsServers: ['10.96.0.10', 'fd00::10'] });
    expect([c.ipv6, c.dnsServers]).to.deep.equal([true, { v4: ['10.96.0.10/32'], v6: ['fd00::10/128'] }]);
  });

  const invalid: Array<[string, Record<string, string>, string]> = [
    ['a bad included CIDR', { [ANNOTATION.includeOutboundIPRanges]: '10.0.0.0/33' }, ANNOTATION.includeOutboundIPRanges],
    ['a bad excluded CIDR', { [ANNOTATION.excludeOutboundIPRanges]: 'ten' }, ANNOTATION.excludeOutboundIPRanges],
    ['a bad inbound port', { [ANNOTATION.includeInboundPorts]: '80,http' }, ANNOTATION.includeInboundPorts],
    ['a bad excluded inbound port', { [ANNOTATION.excludeInboundPorts]: '99999' }, ANNOTATION.excludeInboundPorts],
    ['a wildcard excluded outbound port', { [ANNOTATION.excludeOutboundPorts]: '*' }, ANNOTATION.excludeOutboundPorts],
    ['a bad included outbound port', { [ANNOTATION.includeOutboundPorts]: '-1' }, ANNOTATION.includeOutboundPorts],
    ['a bad kube-virt interface', { [ANNOTATION.kubevirtInterfaces]: 'a b' }, ANNOTATION.kubevirtInterfaces],
    ['a bad excluded interface', { [ANNOTATION.excludeInterfaces]: 'x/y' }, ANNOTATION.excludeInterfaces],
    ['an unknown interception mode', { [ANNOTATION.interceptionMode]: 'MAGIC' }, ANNOTATION.interceptionMode],
    ['interception mode NONE', { [ANNOTATION.interceptionMode]: 'NONE' }, ANNOTATION.interceptionMode],
    ['a proxy config that is not YAML', { [ANNOTATION.proxyConfig]: '{proxyMetadata: [' }, ANNOTATION.proxyConfig],
    ['a proxy config that is a list', { [ANNOTATION.proxyConfig]: '- a' }, ANNOTATION.proxyConfig],
    ['a DNS capture value that is not a boolean', { [ANNOTATION.proxyConfig]: 'proxyMetadata: {ISTIO_META_DNS_CAPTURE: "yes"}' }, ANNOTATION.proxyConfig],
  ];
  for (const [what, annotations, name] of invalid) {
    it(`fails on ${what}, naming ${name}`, () => {
      let err: unknown;
      try {
        configFromPod({ annotations });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(AnnotationError).and.instanceOf(ConfigError);
      expect((err as AnnotationError).annotation).to.equal(name);
      expect((err as Error).message.startsWith(`${name}: `)).to.equal(true);
    });
  }
});
