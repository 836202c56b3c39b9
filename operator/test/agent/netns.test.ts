import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { NetnsIndex, agentNetnsPath, cachedChain, parseCacheEntry } from '../../src/agent/netns.js';
import { tempDir } from './helpers.js';

/** A cache file as libcni 1.x (containerd, CRI-O, cnitool) writes it. */
const CNITOOL_ENTRY = {
  kind: 'cniCacheV1',
  containerId: 'cnitool-77383ca0a0715733ca6f',
  config: 'eyJ0eXBlIjoiYnJpZGdlIn0=',
  ifName: 'eth0',
  networkName: 'mz-e2e',
  netns: '/run/netns/mz-pod-1',
  cniArgs: [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', 'shop'],
    ['K8S_POD_NAME', 'web-1'],
    ['K8S_POD_UID', '5b1c'],
  ],
  result: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.250.41.2/24', gateway: '10.250.41.1', interface: 0 }] },
};

describe('agent netns index', () => {
  it('reads a libcni cache entry: netns, pod and addresses', () => {
    expect(parseCacheEntry(JSON.stringify(CNITOOL_ENTRY))).to.deep.equal({
      containerId: 'cnitool-77383ca0a0715733ca6f',
      ifName: 'eth0',
      networkName: 'mz-e2e',
      netns: '/run/netns/mz-pod-1',
      pod: { namespace: 'shop', name: 'web-1', uid: '5b1c' },
      ips: ['10.250.41.2/24'],
      chain: ['bridge'],
    });
    expect(parseCacheEntry(JSON.stringify({ ...CNITOOL_ENTRY, cniArgs: undefined }))?.pod).to.equal(undefined);
    expect(parseCacheEntry('{"kind":"other"}')).to.equal(undefined);
    expect(parseCacheEntry('not json')).to.equal(undefined);
  });

  it('reads the chain the runtime ran from the cached configuration (a conflist or a single conf), else none', () => {
    const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    expect(cachedChain(b64({ cniVersion: '1.0.0', name: 'k8s', plugins: [{ type: 'bridge' }, { type: 'portmap' }, { type: 'mizzen-cni' }] }))).to.deep.equal(['bridge', 'portmap', 'mizzen-cni']);
    expect(cachedChain(b64({ cniVersion: '0.3.1', name: 'k8s', type: 'calico' }))).to.deep.equal(['calico']);
    expect(parseCacheEntry(JSON.stringify({ ...CNITOOL_ENTRY, config: b64({ plugins: [{ type: 'bridge' }, { type: 'mizzen-cni' }] }) }))?.chain).to.deep.equal(['bridge', 'mizzen-cni']);
    for (const bad of [undefined, '', 'e30=', b64('not json'), b64([]), b64({ plugins: [{ type: 'bridge' }, {}] }), 42]) expect(cachedChain(bad), String(bad)).to.equal(undefined);
    expect(parseCacheEntry(JSON.stringify({ ...CNITOOL_ENTRY, config: undefined }))).to.not.have.property('chain');
  });

  it('maps host netns paths under the agent’s --netns-dir', () => {
    expect(agentNetnsPath('/var/run/netns/cni-1', '/host/var/run/netns')).to.equal('/host/var/run/netns/cni-1');
    expect(agentNetnsPath('/run/netns/cni-1', '/host/var/run/netns')).to.equal('/host/var/run/netns/cni-1');
    expect(agentNetnsPath('/proc/1/ns/net', '/host/var/run/netns')).to.equal('/proc/1/ns/net');
  });

  it('finds a pod’s netns in the cache only while the netns exists, preferring what it programmed itself', async () => {
    const dir = tempDir('netns');
    try {
      fs.mkdirSync(path.join(dir, 'cache/results'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'netns'));
      fs.writeFileSync(path.join(dir, 'cache/results/mz-e2e-x-eth0'), JSON.stringify(CNITOOL_ENTRY));
      const index = new NetnsIndex(path.join(dir, 'cache'), path.join(dir, 'netns'), 0);
      expect(await index.lookup({ namespace: 'shop', name: 'web-1' })).to.equal(undefined);
      fs.writeFileSync(path.join(dir, 'netns/mz-pod-1'), '');
      expect(await index.lookup({ namespace: 'shop', name: 'web-1', uid: '5b1c' })).to.include({ netns: path.join(dir, 'netns/mz-pod-1'), source: 'cache' });
      expect(await index.lookup({ namespace: 'shop', name: 'web-1', uid: 'other' })).to.equal(undefined);
      fs.writeFileSync(path.join(dir, 'netns/mine'), '');
      index.record({ pod: { namespace: 'shop', name: 'web-1' }, containerId: 'c2', netns: path.join(dir, 'netns/mine'), ips: [], source: 'add' });
      expect(await index.lookup({ namespace: 'shop', name: 'web-1' })).to.include({ netns: path.join(dir, 'netns/mine'), source: 'add' });
      expect(index.forgetContainer('c2')?.containerId).to.equal('c2');
      expect(await index.lookup({ namespace: 'shop', name: 'web-1' })).to.include({ source: 'cache' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('treats a missing cache directory as no attachments', async () => {
    const index = new NetnsIndex('/nonexistent/mizzen-cache', '/var/run/netns', 0);
    expect(await index.lookup({ namespace: 'a', name: 'b' })).to.equal(undefined);
  });
});
