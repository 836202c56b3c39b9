// The nf_tables batches of nfnetlink.ts on the real kernel, sent by the built mizzen-cni (the way an ADD sends
// them: the agent's socket server gives it a program, it enters the netns and sends the bytes). For every golden
// case and pod case the encoder covers, one netns is given the input through this machine's
// iptables-nft-restore --noflush (1.8.9), one the batch with ports written the way 1.8.9 writes them (`native`),
// one the batch the agent sends (`compat`: ports as the xt tcp/udp match, the way 1.8.7 writes them). The native
// batch must leave exactly what iptables-nft-restore left — the same `nft --debug=netlink list ruleset` (every
// expression, register, value and handle) — and all three the same iptables-save. Opt-in like kernel.test.ts
// (MIZZEN_NETNS_TESTS=1, root); it only touches the namespaces it creates.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { type Family, NETLINK_TOOL, encodeRestore, renderRestore } from '../../src/iptables/index.js';
import type { StepResult } from '../../src/agent/protocol.js';
import { AgentSocketServer } from '../../src/agent/socket.js';
import { builtPlugin, tempDir } from '../agent/helpers.js';
import { KERNEL_CASES, sh } from './kernelcases.js';

const enabled = process.env.MIZZEN_NETNS_TESTS === '1';
const RESTORED = `mz-nl-restore-${process.pid}`;
const SENT = `mz-nl-batch-${process.pid}`;
const COMPAT = `mz-nl-compat-${process.pid}`;

/** Restore inputs the agent's rule sets do not produce today, for the forms the encoder writes anyway. */
const EXTRA: readonly { name: string; family: Family; input: string }[] = [
  {
    name: 'negated protocol, interface wildcards, ragged and byte-aligned prefixes, source ports, ACCEPT',
    family: 'v4',
    input: [
      '*nat',
      ':ISTIO_A - [0:0]',
      ':ISTIO_B - [0:0]',
      '-A PREROUTING -i eth+ -j ISTIO_A',
      '-A INPUT ! -i lo -p udp -m udp --sport 53 -j RETURN',
      '-A OUTPUT ! -o lo -p udp -m udp --sport 53 -j ISTIO_B',
      '-A POSTROUTING -o veth1 -j RETURN',
      '-A ISTIO_A ! -s 10.8.0.0/13 -d 192.168.0.0/16 ! -p tcp -j RETURN',
      '-A ISTIO_A -s 172.16.0.0/12 -p tcp -m tcp --sport 1000 ! --dport 2000 -j ACCEPT',
      '-A ISTIO_A -d 10.0.0.0/8 -j ACCEPT',
      '-A ISTIO_B ! -o eth+ -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053',
      'COMMIT',
      '',
    ].join('\n'),
  },
  {
    name: 'IPv6: ragged and aligned prefixes, negations, REDIRECT',
    family: 'v6',
    input: [
      '*nat',
      ':ISTIO_A - [0:0]',
      '-A OUTPUT -j ISTIO_A',
      '-A ISTIO_A ! -s fc00::/7 -d fd00:10:96::/112 -p tcp -m tcp --dport 80 -j RETURN',
      '-A ISTIO_A -d ::1/128 -o lo -j RETURN',
      '-A ISTIO_A -s 2001:db8::/33 -m owner ! --gid-owner 1337 -j RETURN',
      '-A ISTIO_A -p tcp -j REDIRECT --to-ports 15001',
      'COMMIT',
      '',
    ].join('\n'),
  },
];

interface Sent {
  readonly results: StepResult[];
  readonly code: number | null;
  readonly stdout: string;
}

/** Runs the built plugin's ADD against a socket server whose only answer is a program of these netlink steps. */
async function sendThroughPlugin(exe: string, netns: string, steps: { family: Family; netlink: string }[]): Promise<Sent> {
  const dir = tempDir('netlink');
  const socketPath = path.join(dir, 'cni.sock');
  let results: StepResult[] = [];
  const server = new AgentSocketServer(socketPath, async (_req, peer) => {
    results = (await peer?.run(steps.map((s) => ({ family: s.family, tool: NETLINK_TOOL, args: [], netlink: s.netlink })))) ?? [];
    return { ok: true, redirected: true, reason: 'test', message: 'netlink batch sent', spawns: 0 };
  });
  await server.start();
  try {
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'mz-nl', type: 'mizzen-cni', agentSocket: socketPath, prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.0.0.1/32' }] } });
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: `c-${process.pid}`, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent', CNI_ARGS: 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p' };
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(exe, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out }));
      child.stdin.end(conf);
    });
    return { results, code, stdout };
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const nftList = (netns: string): string => sh('ip', ['netns', 'exec', netns, 'nft', '--debug=netlink', 'list', 'ruleset']);
const save = (netns: string, family: Family): string =>
  sh('ip', ['netns', 'exec', netns, family === 'v4' ? 'iptables-nft-save' : 'ip6tables-nft-save'])
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

(enabled ? describe : describe.skip)('nf_tables batches on the real kernel, sent by mizzen-cni (MIZZEN_NETNS_TESTS=1)', function () {
  this.timeout(60_000);
  let exe: string;

  before(function () {
    this.timeout(600_000); // a cold build of the executable
    exe = builtPlugin();
  });
  beforeEach(() => {
    for (const n of [RESTORED, SENT, COMPAT]) {
      sh('ip', ['netns', 'add', n]);
      sh('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
    }
  });
  afterEach(() => {
    for (const n of [RESTORED, SENT, COMPAT]) sh('ip', ['netns', 'del', n]);
  });

  const cases = KERNEL_CASES.map((c) => {
    const ruleSet = c.ruleSet();
    const inputs = ruleSet.families.map((f) => ({ family: f.family, input: renderRestore(ruleSet, f.family) }));
    return {
      name: c.name,
      inputs,
      batches: inputs.map((i) => ({ family: i.family, batch: encodeRestore(i.input, i.family, 'native') })),
      compat: inputs.map((i) => ({ family: i.family, batch: encodeRestore(i.input, i.family) })),
    };
  });
  const covered = cases.filter((c) => c.batches.every((b) => b.batch !== undefined));
  const left = cases.filter((c) => !covered.includes(c));

  for (const c of covered) {
    it(`the batches hold what iptables-nft-restore makes of the same input: ${c.name}`, async () => {
      for (const i of c.inputs) sh('ip', ['netns', 'exec', RESTORED, i.family === 'v4' ? 'iptables-nft-restore' : 'ip6tables-nft-restore', '--noflush', '--wait'], i.input);
      const sent = await sendThroughPlugin(
        exe,
        SENT,
        c.batches.map((b) => ({ family: b.family, netlink: b.batch?.bytes.toString('base64') ?? '' })),
      );
      expect(sent.code, sent.stdout).to.equal(0);
      expect(sent.results).to.deep.equal(c.batches.map(() => ({ code: 0, stdout: '', stderr: '' })));
      expect(nftList(SENT)).to.equal(nftList(RESTORED));
      for (const i of c.inputs) expect(save(SENT, i.family), i.family).to.equal(save(RESTORED, i.family));
      const compat = await sendThroughPlugin(
        exe,
        COMPAT,
        c.compat.map((b) => ({ family: b.family, netlink: b.batch?.bytes.toString('base64') ?? '' })),
      );
      expect(compat.results).to.deep.equal(c.compat.map(() => ({ code: 0, stdout: '', stderr: '' })));
      for (const i of c.inputs) expect(save(COMPAT, i.family), `${i.family}, compat`).to.equal(save(RESTORED, i.family));
    });
  }

  it(`covers every rule set without a mangle table (REDIRECT mode, with DNS capture too); leaves the others to iptables-restore (counts printed)`, () => {
    console.log(`      encoded ${covered.length} of ${cases.length} rule sets; ${left.length} (TPROXY, drop-invalid) go through iptables-restore`);
    // REDIRECT mode with or without DNS capture (nat, raw) is covered; the mangle table of TPROXY and drop-invalid is not.
    for (const c of left) expect(c.inputs.some((i) => /^\*(mangle|filter)$/m.test(i.input)), c.name).to.equal(true);
    expect(covered.length).to.be.greaterThan(cases.length / 2);
  });

  for (const x of EXTRA) {
    it(`the same for the forms rule sets do not use yet: ${x.name}`, async () => {
      const batch = encodeRestore(x.input, x.family, 'native');
      const compat = encodeRestore(x.input, x.family);
      expect(batch, 'encoded').to.not.equal(undefined);
      sh('ip', ['netns', 'exec', RESTORED, x.family === 'v4' ? 'iptables-nft-restore' : 'ip6tables-nft-restore', '--noflush', '--wait'], x.input);
      const sent = await sendThroughPlugin(exe, SENT, [{ family: x.family, netlink: batch?.bytes.toString('base64') ?? '' }]);
      expect(sent.results).to.deep.equal([{ code: 0, stdout: '', stderr: '' }]);
      expect(nftList(SENT)).to.equal(nftList(RESTORED));
      expect(save(SENT, x.family)).to.equal(save(RESTORED, x.family));
      const sentCompat = await sendThroughPlugin(exe, COMPAT, [{ family: x.family, netlink: compat?.bytes.toString('base64') ?? '' }]);
      expect(sentCompat.results).to.deep.equal([{ code: 0, stdout: '', stderr: '' }]);
      expect(save(COMPAT, x.family)).to.equal(save(RESTORED, x.family));
    });
  }

  it('a batch the kernel refuses changes nothing and names the message (errno, sequence number)', async () => {
    // A jump to a chain the batch never declares: the kernel refuses that rule, and the transaction.
    const input = '*nat\n:ISTIO_A - [0:0]\n-A OUTPUT -j ISTIO_A\n-A ISTIO_A -j ISTIO_NOWHERE\nCOMMIT\n';
    const batch = encodeRestore(input.replace('-j ISTIO_NOWHERE', '-j ISTIO_A'), 'v4');
    // encodeRestore refuses rules into undeclared chains, so damage the bytes' chain name in place instead.
    const bytes = Buffer.from(batch?.bytes ?? Buffer.alloc(0));
    const at = bytes.lastIndexOf(Buffer.from('ISTIO_A\0'));
    bytes.write('ISTIO_Z', at, 'latin1');
    const sent = await sendThroughPlugin(exe, SENT, [{ family: 'v4', netlink: bytes.toString('base64') }]);
    expect(sent.results).to.have.length(1);
    expect(sent.results[0]?.code).to.equal(1);
    expect(sent.results[0]?.stderr).to.equal('no such file or directory');
    expect(batch?.what.get(Number(sent.results[0]?.stdout))).to.equal('-A ISTIO_A -j ISTIO_A (table nat)');
    expect(nftList(SENT)).to.equal('');
  });
});
