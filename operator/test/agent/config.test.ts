import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Command } from 'commander';
import { registerAgent } from '../../src/cli/agent.js';
import { CNI_NAMES, render } from '../../src/render/index.js';
import { loadAgentConfig } from '../../src/config/agent.js';
import { ConfigError } from '../../src/config/index.js';
import { cniConfigToData, resolveCniConfig } from '../../src/render/cniconfig.js';
import { NOT_READY_TAINT, withoutTaint } from '../../src/agent/taint.js';
import { tempDir } from './helpers.js';

describe('agent config', () => {
  it('reads the ConfigMap the renderer writes (one file per key, as a volume mounts it)', () => {
    const dir = tempDir('cfg');
    try {
      const rendered = cniConfigToData(resolveCniConfig({ cniBinDir: '/home/kubernetes/bin', excludeNamespaces: ['kube-system', 'mesh-off'], repair: { repairPods: true, deletePods: false } }));
      fs.mkdirSync(path.join(dir, '..2024_01_01'));
      for (const [k, v] of Object.entries(rendered)) {
        fs.writeFileSync(path.join(dir, '..2024_01_01', k), v);
        fs.symlinkSync(path.join('..2024_01_01', k), path.join(dir, k));
      }
      fs.symlinkSync('..2024_01_01', path.join(dir, '..data'));
      const cfg = loadAgentConfig({ configDir: dir, nodeName: 'node-a', cniConfDir: '/host/etc/cni/net.d' }, {});
      expect(cfg.cni.excludeNamespaces).to.deep.equal(['kube-system', 'mesh-off']);
      expect(cfg.cni.repair).to.include({ enabled: true, repairPods: true, deletePods: false, labelPods: true });
      // Flags are where the agent writes (container paths); the ConfigMap's values are the host's.
      expect([cfg.cniBinDir, cfg.cniConfDir]).to.deep.equal(['/home/kubernetes/bin', '/host/etc/cni/net.d']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has the DaemonSet defaults and takes NODE_NAME from the environment', () => {
    const cfg = loadAgentConfig({}, { NODE_NAME: 'node-b', POD_NAME: 'istio-cni-node-x' });
    expect(cfg).to.deep.include({
      nodeName: 'node-b',
      podName: 'istio-cni-node-x',
      netnsDir: '/var/run/netns',
      socketDir: '/var/run/mizzen',
      cniCacheDir: '/var/lib/cni',
      cniBinDir: '/opt/cni/bin',
      cniConfDir: '/etc/cni/net.d',
      probePort: 8000,
      driftIntervalMs: 30_000,
      installCheckIntervalMs: 1000,
      podWaitMs: 5000,
      netlink: true,
    });
    expect(cfg.pluginPath).to.match(/\/dist\/mizzen-cni$/);
    expect(loadAgentConfig({}, { NODE_NAME: 'n', MIZZEN_CNI_NETLINK: 'false' }).netlink).to.equal(false);
  });

  it('refuses a missing node name and malformed values with one-line errors', () => {
    expect(() => loadAgentConfig({}, {})).to.throw(ConfigError, /--node-name \(or NODE_NAME\) is required/);
    expect(() => loadAgentConfig({ nodeName: 'n', driftInterval: 'often' }, {})).to.throw(ConfigError, /--drift-interval must be a duration/);
    expect(() => loadAgentConfig({ nodeName: 'n' }, { MIZZEN_CNI_NETLINK: 'sometimes' })).to.throw(ConfigError, /MIZZEN_CNI_NETLINK/);
    expect(() => loadAgentConfig({ nodeName: 'n', configDir: '/nonexistent/cfg' }, {})).to.throw(ConfigError, /--config-dir \/nonexistent\/cfg cannot be read/);
    const dir = tempDir('cfg');
    try {
      fs.writeFileSync(path.join(dir, 'repair.enabled'), 'yes');
      expect(() => loadAgentConfig({ nodeName: 'n', configDir: dir }, {})).to.throw(ConfigError, /repair.enabled/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removes only the not-ready taint from a node (and nothing when it has none)', () => {
    const other = { key: 'dedicated', value: 'mesh', effect: 'NoSchedule' };
    expect(withoutTaint([other, { key: NOT_READY_TAINT, effect: 'NoSchedule' }], NOT_READY_TAINT)).to.deep.equal([other]);
    expect(withoutTaint([other], NOT_READY_TAINT)).to.equal(undefined);
    expect(withoutTaint(undefined, NOT_READY_TAINT)).to.equal(undefined);
  });
});

describe('agent flags: the contract with the renderer', () => {
  it('accepts exactly the command, flags and ConfigMap that the istio-cni-node DaemonSet is rendered with', function () {
    this.timeout(20_000);
    const iop = { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'x', namespace: 'istio-system' }, spec: { components: { cni: { enabled: true } }, values: { cni: { repair: true } } } };
    const objects = render(iop as never).objects;
    const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === CNI_NAMES.daemonSet) as unknown as {
      spec: { template: { spec: { containers: { name: string; command: string[]; args: string[]; env: { name: string }[] }[] } } };
    };
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === CNI_NAMES.configMap) as unknown as { data: Record<string, string> };
    const c = ds.spec.template.spec.containers.find((x) => x.name === CNI_NAMES.container);
    expect(c?.command).to.deep.equal(['mizzen', 'agent']);
    expect(c?.env.map((e) => e.name)).to.include('NODE_NAME');
    const program = new Command().exitOverride();
    registerAgent(program);
    const agent = program.commands.find((x) => x.name() === 'agent');
    const known = new Set(agent?.options.map((o) => o.long));
    for (const arg of c?.args ?? []) expect(known, `flag ${arg}`).to.include(arg.split('=')[0]);
    // The parsed flags and the mounted ConfigMap make a valid config.
    const flags = Object.fromEntries((c?.args ?? []).map((a) => {
      const [k = '', v = ''] = a.replace(/^--/, '').split('=');
      return [k.replace(/-([a-z])/g, (_m: string, ch: string) => ch.toUpperCase()), v];
    }));
    const dir = tempDir('cm');
    try {
      for (const [k, v] of Object.entries(cm.data)) fs.writeFileSync(path.join(dir, k), v);
      const cfg = loadAgentConfig({ ...flags, configDir: dir }, { NODE_NAME: 'node-a' });
      expect(cfg).to.deep.include({ cniBinDir: '/host/opt/cni/bin', netnsDir: '/host/var/run/netns', cniCacheDir: '/host/var/lib/cni', socketDir: '/var/run/mizzen', probePort: 8000 });
      expect(cfg.cni.repair.enabled).to.equal(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
