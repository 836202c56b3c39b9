import { expect } from 'chai';
import { buildNftRuleSet, nftDiff, parseArgs, parseNftList, planNftApply, planNftCleanup, resolveConfig } from '../../src/iptables/index.js';

const ruleSetOf = (...argv: string[]) => buildNftRuleSet(resolveConfig(parseArgs(argv).flags, {}));

/** A netns where iptables-nft also has a table, and ours were listed by nft (with counters). */
const LIVE = `# Warning: table ip nat is managed by iptables-nft, do not touch!
table ip nat {
	chain OUTPUT {
		type nat hook output priority -100; policy accept;
		meta l4proto tcp counter packets 1 bytes 60 jump ISTIO_OUTPUT
	}
}
table inet istio-proxy-nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta l4proto tcp counter packets 4 bytes 240 jump istio-inbound
	}

	chain output {
		type nat hook output priority -100; policy accept;
		counter packets 9 bytes 540 jump istio-output
	}

	chain istio-inbound {
		tcp dport 15008 counter packets 0 bytes 0 return
		meta l4proto tcp counter packets 4 bytes 240 jump istio-in-redirect
	}

	chain istio-redirect {
		meta l4proto tcp counter packets 2 bytes 120 redirect to :15001
	}

	chain istio-in-redirect {
		meta l4proto tcp counter packets 4 bytes 240 redirect to :15006
	}

	chain istio-output {
		oifname "lo" ip saddr 127.0.0.6 counter packets 0 bytes 0 return
		meta skuid 1337 counter packets 0 bytes 0 return
		counter packets 2 bytes 120 jump istio-redirect
	}
}
table inet istio-proxy-raw {
	chain output {
		type filter hook output priority raw; policy accept;
		counter packets 0 bytes 0 jump istio-output-dns
	}

	chain istio-output-dns {
		udp dport 53 meta skuid 1337 counter packets 0 bytes 0 ct zone set 1
	}
}
`;

describe('native nftables plans', () => {
  it('reads only our inet tables from nft list ruleset, counter values dropped', () => {
    const live = parseNftList(LIVE);
    expect(live.tables.map((t) => t.name)).to.deep.equal(['istio-proxy-nat', 'istio-proxy-raw']);
    expect(live.tables[0]?.chains.find((c) => c.name === 'istio-inbound')?.rules).to.deep.equal(['tcp dport 15008 counter return', 'meta l4proto tcp counter jump istio-in-redirect']);
    expect(live.tables[0]?.chains[0]?.base).to.equal('type nat hook prerouting priority dstnat; policy accept;');
  });

  it('reports drift per chain and replaces only the tables that differ, deleting ours no longer wanted', () => {
    const want = ruleSetOf('-b', '*', '-i', '*');
    const d = nftDiff(want, parseNftList(LIVE));
    expect(d.inSync).to.equal(false);
    expect(d.chains.map((c) => `${c.table}/${c.chain}:${c.reason}`)).to.deep.equal(['istio-proxy-nat/istio-output:rules-differ', 'istio-proxy-raw/:extra-table']);
    expect(d.chains[0]?.missing).to.include('oifname "lo" meta skuid != 1337 counter return');
    const plan = planNftApply(want, parseNftList(LIVE)) ?? '';
    expect(plan.split('\n').filter((l) => /^(add|delete) table/.test(l))).to.deep.equal([
      'add table inet istio-proxy-nat',
      'delete table inet istio-proxy-nat',
      'add table inet istio-proxy-nat',
      'delete table inet istio-proxy-raw',
    ]);
    expect(plan).to.not.match(/istio-proxy-mangle/);
  });

  it('plans nothing when in sync and cleans up every table of ours only', () => {
    const want = ruleSetOf('-b', '*', '-i', '*');
    const inSync = parseNftList(
      want.tables
        .map((t) => `table inet ${t.name} {\n${t.chains.map((c) => `chain ${c.name} {\n${c.base ?? ''}\n${c.rules.map((r) => r.replace('counter', 'counter packets 7 bytes 1')).join('\n')}\n}`).join('\n')}\n}\n`)
        .join(''),
    );
    expect(planNftApply(want, inSync)).to.equal(undefined);
    expect(planNftCleanup(parseNftList(LIVE))).to.equal('delete table inet istio-proxy-nat\ndelete table inet istio-proxy-raw\n');
    expect(planNftCleanup(parseNftList('table ip filter {\n}\n'))).to.equal(undefined);
  });

  it('rejects output that is not an nft listing', () => {
    expect(() => parseNftList('*nat\n-A OUTPUT -j X\n')).to.throw(/expected a table/);
  });

  it('orders TPROXY guards and IPv6 rules as Istio inserts them', () => {
    const inbound = ruleSetOf('-m', 'TPROXY', '-b', '80', '--ipv6').tables.find((t) => t.name === 'istio-proxy-mangle')?.chains.find((c) => c.name === 'istio-inbound')?.rules;
    expect(inbound?.slice(0, 4)).to.deep.equal([
      'meta l4proto tcp meta mark 0x00000539 counter return',
      'iifname "lo" meta l4proto tcp ip6 saddr ::6 counter return',
      'iifname "lo" meta l4proto tcp meta mark != 0x0000053a counter return',
      'iifname "lo" meta l4proto tcp ip saddr 127.0.0.6 counter return',
    ]);
  });
});
