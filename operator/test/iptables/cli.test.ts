import { expect } from 'chai';
import { DryRunExecutor, type IptablesExecutor, parseArgs, runIptablesCommand } from '../../src/iptables/index.js';

async function run(argv: string[], executor: IptablesExecutor = new DryRunExecutor(), env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runIptablesCommand(argv, env, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } }, executor);
  return { code, stdout, stderr };
}

describe('mizzen iptables command line', () => {
  const syntaxes: Array<[string, string[], Record<string, string>]> = [
    ['separate values', ['-p', '1', '--inbound-capture-port', '2'], { 'envoy-port': '1', 'inbound-capture-port': '2' }],
    ['attached and = values', ['-p1', '-z=2', '--proxy-uid=3'], { 'envoy-port': '1', 'inbound-capture-port': '2', 'proxy-uid': '3' }],
    ['empty values', ['-x', '', '--istio-service-cidr='], { 'istio-service-exclude-cidr': '', 'istio-service-cidr': '' }],
    ['booleans with and without values', ['--redirect-dns', '--drop-invalid=false', '-n'], { 'redirect-dns': 'true', 'drop-invalid': 'false', 'dry-run': 'true' }],
    ['combined boolean shorthands', ['-nf'], { 'dry-run': 'true', 'restore-format': 'true' }],
    ['the last of a repeated flag', ['-p', '1', '-p', '2'], { 'envoy-port': '2' }],
  ];
  for (const [what, argv, flags] of syntaxes) {
    it(`parses ${what} like pflag`, () => {
      expect(parseArgs(argv)).to.deep.equal({ flags, help: false });
    });
  }

  it('prints help with -h', async () => {
    const r = await run(['-h']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^Usage: mizzen iptables/);
    expect(r.stdout).to.include('-b, --istio-inbound-ports');
  });

  const errors: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['an unknown flag', ['--nope'], {}, /^Error: arguments: unknown flag: --nope\n$/],
    ['an unknown shorthand', ['-Y'], {}, /^Error: arguments: unknown shorthand flag 'Y'/],
    ['a missing value', ['-p'], {}, /^Error: arguments: flag needs an argument: -p\n$/],
    ['a stray argument', ['foo'], {}, /^Error: arguments: unexpected argument "foo"\n$/],
    ['an invalid value', ['-b', '80,abc'], {}, /^Error: -b\/--istio-inbound-ports: "abc" is not a port \(1-65535\)\n$/],
    ['an invalid environment knob', [], { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: 'x' }, /^Error: ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: /],
  ];
  for (const [what, argv, env, message] of errors) {
    it(`exits 1 with one line on ${what}`, async () => {
      const r = await run(argv, new DryRunExecutor(), env);
      expect([r.code, r.stdout]).to.deep.equal([1, '']);
      expect(r.stderr).to.match(message);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
    });
  }

  it('applies through the given executor and reports what changed', async () => {
    const executor = new DryRunExecutor();
    const first = await run(['-b', '*', '-i', '*'], executor);
    expect(first.code).to.equal(0);
    expect(first.stdout).to.match(/^# iptables: applied\n\*nat\n/);
    expect(first.stdout).to.match(/# 2 processes\n$/);
    const second = await run(['-b', '*', '-i', '*'], executor);
    expect(second.stdout).to.equal('# iptables: already in sync, nothing applied\n# 1 processes\n');
  });

  it('exits 1 with one line when iptables-restore fails', async () => {
    const failing = new DryRunExecutor();
    failing.sim.run = () => Promise.resolve({ code: 4, stdout: '', stderr: 'iptables-save v1.8.9: Cannot initialize: Permission denied\nmore\n' });
    const r = await run(['-b', '*'], failing);
    expect(r).to.deep.equal({ code: 1, stdout: '', stderr: 'Error: iptables-save failed (exit 4): iptables-save v1.8.9: Cannot initialize: Permission denied\n' });
  });
});
