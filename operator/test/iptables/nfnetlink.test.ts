// The nf_tables batch encoder without a kernel: what it covers and refuses, and the batch's framing. That the
// bytes are what iptables-nft-restore sends is checked on the real kernel (netlinkkernel.test.ts).
import os from 'node:os';
import { expect } from 'chai';
import { encodeRestore, encodeRule } from '../../src/iptables/index.js';

const DEFAULT = [
  '*nat',
  ':ISTIO_INBOUND - [0:0]',
  ':ISTIO_OUTPUT - [0:0]',
  '-A PREROUTING -p tcp -j ISTIO_INBOUND',
  '-A OUTPUT -j ISTIO_OUTPUT',
  '-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN',
  '-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_INBOUND',
  '-A ISTIO_OUTPUT -p tcp -j REDIRECT --to-ports 15001',
  'COMMIT',
  '',
].join('\n');

const u32 = (b: Buffer, off: number): number => (os.endianness() === 'LE' ? b.readUInt32LE(off) : b.readUInt32BE(off));
const u16 = (b: Buffer, off: number): number => (os.endianness() === 'LE' ? b.readUInt16LE(off) : b.readUInt16BE(off));

/** The netlink messages of a batch: type, flags, sequence number. */
function messages(b: Buffer): { type: number; flags: number; seq: number; family: number; resId: number }[] {
  const out = [];
  for (let off = 0; off < b.length; ) {
    const len = u32(b, off);
    expect(len).to.be.at.least(20);
    out.push({ type: u16(b, off + 4), flags: u16(b, off + 6), seq: u32(b, off + 8), family: b[off + 16] ?? -1, resId: b.readUInt16BE(off + 18) });
    off += (len + 3) & ~3;
  }
  return out;
}

describe('nf_tables batch encoder (nfnetlink.ts)', () => {
  it('frames a batch: begin, table, each declared chain created and flushed, base chains before their first rule, rules, end', () => {
    const batch = encodeRestore(DEFAULT, 'v4');
    expect(batch).to.not.equal(undefined);
    const msgs = messages(batch?.bytes ?? Buffer.alloc(0));
    const NFT = 10 << 8;
    expect(msgs.map((m) => m.type)).to.deep.equal([0x10, NFT | 0, NFT | 3, NFT | 8, NFT | 3, NFT | 8, NFT | 3, NFT | 6, NFT | 3, NFT | 6, NFT | 6, NFT | 6, NFT | 6, 0x11]);
    expect(msgs.map((m) => m.seq)).to.deep.equal(msgs.map((_, i) => i));
    // Begin and end speak for the nf_tables subsystem; every message between asks for an acknowledgement.
    expect([msgs[0]?.resId, msgs.at(-1)?.resId]).to.deep.equal([10, 10]);
    expect(msgs.slice(1, -1).every((m) => (m.flags & 0x5) === 0x5 && m.family === 2)).to.equal(true);
    expect(batch?.acks).to.equal(msgs.length - 2);
    expect(batch?.what.get(7)).to.equal('-A PREROUTING -p tcp -j ISTIO_INBOUND (table nat)');
    expect(batch?.what.get(2)).to.equal('chain ISTIO_INBOUND of table nat');
    // The same input, the same bytes.
    expect(encodeRestore(DEFAULT, 'v4')?.bytes.equals(batch?.bytes ?? Buffer.alloc(0))).to.equal(true);
  });

  it('writes IPv6 batches for the ip6 family', () => {
    const batch = encodeRestore(DEFAULT.replace('127.0.0.1/32', '::1/128'), 'v6');
    expect(messages(batch?.bytes ?? Buffer.alloc(0)).slice(1, -1).every((m) => m.family === 10)).to.equal(true);
    // An IPv4 address in an IPv6 rule set is not something to encode.
    expect(encodeRestore(DEFAULT, 'v6')).to.equal(undefined);
  });

  const refused: [string, string][] = [
    ['the mangle table', DEFAULT.replace('*nat', '*mangle')],
    ['a table twice', `${DEFAULT}${DEFAULT}`],
    ['REDIRECT in the raw table', DEFAULT.replace('*nat', '*raw').replace('-A PREROUTING -p tcp -j ISTIO_INBOUND\n', '')],
    ['CT in the nat table', DEFAULT.replace('-j REDIRECT --to-ports 15001', '-j CT --zone 1')],
    ['a built-in chain declaration', DEFAULT.replace(':ISTIO_INBOUND - [0:0]', ':PREROUTING ACCEPT [0:0]\n:ISTIO_INBOUND - [0:0]')],
    ['a rule into an undeclared chain', DEFAULT.replace('-A OUTPUT -j ISTIO_OUTPUT', '-A ISTIO_ELSEWHERE -j RETURN')],
    ['an insert', DEFAULT.replace('-A OUTPUT', '-I OUTPUT')],
    ['a missing COMMIT', DEFAULT.replace('COMMIT\n', '')],
    ['nothing at all', ''],
  ];
  for (const [what, input] of refused) {
    it(`leaves to iptables-restore an input with ${what}`, () => {
      expect(encodeRestore(input, 'v4')).to.equal(undefined);
    });
  }

  const rules: [string, boolean][] = [
    ['-p tcp -m multiport --dports 1:1024 -j RETURN', false],
    ['-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 -j RETURN', false],
    ['-m multiport --dports 53 -j RETURN', false],
    ['-p tcp -m multiport ! --dports 53,15008 -j RETURN', true],
    ['-p udp -m multiport --sports 53 -j RETURN', true],
    ['-p tcp -m tcp --dport 1000:2000 -j RETURN', false],
    ['-m tcp --dport 80 -j RETURN', false], // the tcp match without -p tcp: the kernel refuses it
    ['-p udp -m tcp --dport 80 -j RETURN', false],
    ['-m owner --uid-owner istio-proxy -j RETURN', false],
    ['-m owner --uid-owner 1337 --gid-owner 1337 -j RETURN', false],
    ['-j DROP', false], // iptables refuses DROP in nat
    ['-j MARK --set-xmark 0x539/0xffffffff', false],
    ['-p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff', false],
    ['-j REDIRECT --to-ports 15001', false], // REDIRECT to a port needs -p tcp or udp
    ['-d 0.0.0.0/0 -j RETURN', false],
    ['-d 10.0.0.1/8 -j RETURN', false], // not canonical: iptables-save prints 10.0.0.0/8
    ['-j PREROUTING', false],
    ['-i + -j RETURN', false],
    ['-p tcp', false],
    ['-p tcp -j RETURN -j ACCEPT', false],
    ['-p sctp -j RETURN', false],
    ['! -p tcp -j ACCEPT', true],
    ['-s 10.8.0.0/13 -i eth+ -j RETURN', true],
    ['-p udp -m udp --sport 53 ! --dport 15053 -j ISTIO_X', true],
    ['-o lo -m owner ! --gid-owner 1337 -j RETURN', true],
  ];
  it('writes the raw table of DNS capture: CT zones in base chains of type filter', () => {
    const raw = ['*raw', ':ISTIO_OUTPUT_DNS - [0:0]', '-A OUTPUT -j ISTIO_OUTPUT_DNS', '-A ISTIO_OUTPUT_DNS -p udp -m udp --dport 53 -j CT --zone 1', 'COMMIT', ''].join('\n');
    const batch = encodeRestore(`${raw}${DEFAULT}`, 'v4');
    expect([...(batch?.what.values() ?? [])].filter((w) => w.startsWith('table'))).to.deep.equal(['table raw', 'table nat']);
    expect(encodeRule('v4', ['-p', 'udp', '-j', 'CT', '--zone', '70000'], undefined, 'raw')).to.equal(undefined);
  });

  for (const [rule, ok] of rules) {
    it(`${ok ? 'encodes' : 'does not encode'} ${rule}`, () => {
      expect(encodeRule('v4', rule.split(' ')) !== undefined).to.equal(ok);
    });
  }
});
