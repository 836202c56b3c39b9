import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadOperatorConfig, parseLogLevel, parseProbeAddr } from '../../src/config/index.js';
import { loadAgentConfig } from '../../src/config/agent.js';
import { describeConnectError, describeListenError, loadKubeConfig } from '../../src/config/kubeconfig.js';

function kubeconfig(opts: { clusters?: [string, string][]; users?: string[]; contexts?: [string, string, string][]; current?: string }): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: (opts.clusters ?? []).map(([name, server]) => ({ name, cluster: { server } })),
    users: (opts.users ?? []).map((name) => ({ name, user: { token: `token-${name}` } })),
    contexts: (opts.contexts ?? []).map(([name, cluster, user]) => ({ name, context: { cluster, user } })),
    ...(opts.current ? { 'current-context': opts.current } : {}),
  });
}

describe('configuration', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const emptyHome = (): string => fs.mkdtempSync(path.join(dir, 'home-'));

  describe('loadKubeConfig (as kubectl finds and merges kubeconfigs)', () => {
    it('merges a KUBECONFIG list: missing files skipped, the first file wins each name and the current context', () => {
      const a = file('a', kubeconfig({ clusters: [['one', 'https://a.example:6443']], users: ['u'], contexts: [['ctx-a', 'one', 'u']], current: 'ctx-a' }));
      const b = file('b', kubeconfig({ clusters: [['one', 'https://b.example:6443'], ['two', 'https://two.example']], users: ['u'], contexts: [['ctx-b', 'two', 'u']], current: 'ctx-b' }));
      const { kc, source } = loadKubeConfig(undefined, { KUBECONFIG: [path.join(dir, 'missing'), a, '', b].join(path.delimiter) }, emptyHome());
      expect(source).to.match(/^KUBECONFIG=/);
      expect(kc.getCurrentContext()).to.equal('ctx-a');
      expect(kc.getCurrentCluster()?.server).to.equal('https://a.example:6443');
      expect(kc.getCluster('two')?.server).to.equal('https://two.example');
      expect(kc.getContexts().map((c) => c.name)).to.deep.equal(['ctx-a', 'ctx-b']);
    });

    it('takes current-context from a later file when the first sets none', () => {
      const a = file('a', kubeconfig({ clusters: [['one', 'https://a.example']], users: ['u'], contexts: [['ctx-a', 'one', 'u']] }));
      const b = file('b', kubeconfig({ current: 'ctx-a' }));
      expect(loadKubeConfig(undefined, { KUBECONFIG: `${a}${path.delimiter}${b}` }, emptyHome()).kc.getCurrentContext()).to.equal('ctx-a');
    });

    it('says which files of the list are missing when none exists', () => {
      expect(() => loadKubeConfig(undefined, { KUBECONFIG: `/nope/a${path.delimiter}/nope/b` }, emptyHome())).to.throw(ConfigError, 'none of the files in KUBECONFIG=/nope/a:/nope/b exists');
    });

    it('refuses a missing --kubeconfig, and explains having no kubeconfig at all', () => {
      expect(() => loadKubeConfig('/nope/config', {}, emptyHome())).to.throw(ConfigError, 'kubeconfig /nope/config (from --kubeconfig) does not exist');
      expect(() => loadKubeConfig(undefined, {}, emptyHome())).to.throw(ConfigError, /^no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG/);
    });

    it('reads ~/.kube/config when there is neither flag nor KUBECONFIG', () => {
      const home = emptyHome();
      fs.mkdirSync(path.join(home, '.kube'));
      fs.writeFileSync(path.join(home, '.kube', 'config'), kubeconfig({ clusters: [['c', 'https://home.example']], users: ['u'], contexts: [['x', 'c', 'u']], current: 'x' }));
      const { kc, source } = loadKubeConfig(undefined, {}, home);
      expect(source).to.equal('~/.kube/config');
      expect(kc.getCurrentCluster()?.server).to.equal('https://home.example');
    });

    it('explains a kubeconfig that cannot be used, in one line naming the file', () => {
      const cases: [string, RegExp][] = [
        ['garbage: [', /^cannot read kubeconfig .*\/bad \(from --kubeconfig\): /],
        [kubeconfig({ clusters: [['c', 'https://x']], users: ['u'], contexts: [['x', 'c', 'u']] }), /sets no current-context/],
        [kubeconfig({ clusters: [['c', 'https://x']], current: 'other' }), /names current-context "other", which it does not define/],
        [kubeconfig({ contexts: [['x', 'gone', 'u']], users: ['u'], current: 'x' }), /names cluster "gone"/],
        [kubeconfig({ clusters: [['c', 'ftp://x']], users: ['u'], contexts: [['x', 'c', 'u']], current: 'x' }), /server must be an https:\/\/ URL/],
        [kubeconfig({ clusters: [['c', 'https://x']], contexts: [['x', 'c', 'nobody']], current: 'x' }), /names user "nobody"/],
      ];
      for (const [text, msg] of cases) {
        const p = file('bad', text);
        let err: unknown;
        try {
          loadKubeConfig(p, {}, emptyHome());
        } catch (e) {
          err = e;
        }
        expect(err, text).to.be.instanceOf(ConfigError);
        expect((err as Error).message).to.match(msg);
        expect((err as Error).message).to.not.include('\n');
      }
    });
  });

  describe('start-up errors', () => {
    it('names the server, the cause and the kubeconfig for connection and TLS failures; leaves other errors alone', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      expect(describeConnectError(refused, 'https://127.0.0.1:1', '--kubeconfig k')).to.equal(
        'cannot reach the API server https://127.0.0.1:1 (connection refused; kubeconfig: --kubeconfig k); is the cluster running and the address right?',
      );
      const tls = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
      expect(describeConnectError(tls, 'https://h', 'KUBECONFIG=a')).to.match(/^TLS with the API server https:\/\/h failed: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\); check/);
      expect(describeConnectError(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), 'https://h', 's')).to.match(/^TLS with/);
      expect(describeConnectError(Object.assign(new Error('Unauthorized'), { statusCode: 401 }), 'https://h', 's')).to.match(/refused the credentials/);
      expect(describeConnectError(new Error('boom'), 'https://h', 's')).to.equal(undefined);
      expect(describeListenError(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }), '--probe-addr', '127.0.0.1:8081')).to.equal(
        '--probe-addr 127.0.0.1:8081: the address is already in use by another process; stop it or choose another address',
      );
    });
  });

  describe('flags shared by the operator and the agent', () => {
    it('refuses an unknown log level instead of silencing the log (operator and agent alike)', () => {
      expect(parseLogLevel('warn')).to.equal('warn');
      expect(parseLogLevel('none')).to.equal('error');
      for (const bad of ['warning', 'INFO', 'trace', '', '__proto__', 'constructor']) expect(() => parseLogLevel(bad), bad).to.throw(ConfigError, /--log-level must be one of/);
      expect(() => loadOperatorConfig({ logLevel: 'warning' }, {})).to.throw(ConfigError, '--log-level must be one of debug, info, warn, error, none, got "warning"');
      expect(() => loadOperatorConfig({}, { MIZZEN_LOG_LEVEL: 'verbose' })).to.throw(ConfigError, 'got "verbose"');
      expect(() => loadAgentConfig({ nodeName: 'n', logLevel: 'warning' }, {})).to.throw(ConfigError, '--log-level must be one of debug, info, warn, error, none, got "warning"');
      expect(() => loadOperatorConfig({ logFormat: 'yaml' }, {})).to.throw(ConfigError, '--log-format must be json or text, got "yaml"');
      expect(() => loadAgentConfig({ nodeName: 'n', logFormat: 'yaml' }, {})).to.throw(ConfigError, '--log-format must be json or text, got "yaml"');
    });

    it('parses probe addresses the same way for both', () => {
      expect(parseProbeAddr(':8081')).to.deep.equal({ host: '0.0.0.0', port: 8081 });
      expect(parseProbeAddr('[::1]:0')).to.deep.equal({ host: '[::1]', port: 0 });
      for (const bad of ['8081', 'host:', 'h:70000', 'h:-1', 'h:1.5']) {
        expect(() => loadOperatorConfig({ probeAddr: bad }, {}), bad).to.throw(ConfigError, /--probe-addr must be host:port/);
        expect(() => loadAgentConfig({ nodeName: 'n', probeAddr: bad }, {}), bad).to.throw(ConfigError, /--probe-addr must be host:port/);
      }
    });

    it('leaves KUBECONFIG to the kubeconfig loader (a list is not a file name)', () => {
      expect(loadOperatorConfig({}, { KUBECONFIG: '/a:/b' }).kubeconfig).to.equal(undefined);
      expect(loadOperatorConfig({ kubeconfig: '/x' }, { KUBECONFIG: '/a:/b' }).kubeconfig).to.equal('/x');
      expect(loadAgentConfig({ nodeName: 'n' }, { KUBECONFIG: '/a:/b' }).kubeconfig).to.equal(undefined);
    });
  });
});
