import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  type HostFiles,
  type NftRuleSet,
  type RuleSet,
  DryRunExecutor,
  buildNftRuleSet,
  nftDiff,
  parseNftList,
  planNftApply,
  renderNftDryRun,
  buildRuleSet,
  diff,
  parseArgs,
  parseSave,
  renderRuleSet,
  renderSave,
  resolveConfig,
  runIptablesCommand,
  targetOf,
  BUILTIN_CHAINS,
  ownsChain,
  type Table,
  type SaveState,
} from '../../src/iptables/index.js';
import { CASES } from './cases.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

function ruleSetOf(argv: readonly string[], env: Record<string, string> = {}, host: HostFiles = {}): RuleSet {
  return buildRuleSet(resolveConfig(parseArgs(argv).flags, env, host));
}

async function golden(name: string, actual: string): Promise<void> {
  const file = path.join(here, 'testdata', `${name}.golden`);
  if (update) await writeFile(file, actual);
  expect(actual, `${name}.golden (refresh with UPDATE_GOLDEN=1)`).to.equal(await readFile(file, 'utf8'));
}

/** Every jump into one of our chains resolves, and none of our chains is empty. */
function expectClosedGraph(live: SaveState): void {
  for (const t of live.tables) {
    const names = new Set(t.chains.map((ch) => ch.name));
    for (const ch of t.chains) {
      const targets = ch.rules.map((r) => targetOf(r) ?? '').filter(ownsChain);
      for (const target of targets) expect(names.has(target), `${t.name} ${ch.name} → ${target}`).to.equal(true);
      if (!BUILTIN_CHAINS[t.name as Table].includes(ch.name)) expect(ch.rules.length, `${t.name} ${ch.name} is empty`).to.be.greaterThan(0);
    }
  }
}

const throwingExecutor = new Proxy({} as never, {
  get: () => () => Promise.reject(new Error('--dry-run must not use the executor')),
});

describe('iptables golden rule sets', () => {
  for (const c of CASES) {
    describe(`istio-iptables ${c.argv.join(' ') || '(no flags)'}`, () => {
      it(`${c.name} (${c.golden}.golden)`, async () => {
        await golden(c.golden, renderRuleSet(ruleSetOf(c.argv, c.env, c.host)));
      });

      it('prints exactly the golden with --dry-run', async () => {
        let out = '';
        let err = '';
        const code = await runIptablesCommand([...c.argv, '--dry-run'], c.env ?? {}, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, throwingExecutor, c.host);
        expect({ code, err }).to.deep.equal({ code: 0, err: '' });
        expect(out).to.equal(await readFile(path.join(here, 'testdata', `${c.golden}.golden`), 'utf8'));
      });

      it('leaves a simulated netns exactly in the desired state, with every jump resolving', async () => {
        const ruleSet = ruleSetOf(c.argv, c.env, c.host);
        const dry = new DryRunExecutor();
        await dry.apply(ruleSet);
        for (const f of ruleSet.families) {
          const live = dry.sim.state()[f.family];
          expect(diff(ruleSet, f.family, live).inSync, f.family).to.equal(true);
          // What iptables-save would print parses back to the same snapshot.
          expect(parseSave(renderSave(live))).to.deep.equal(live);
          expectClosedGraph(live);
        }
      });
    });
  }
});

describe('native nftables golden rule sets', () => {
  for (const c of CASES) {
    it(`istio-iptables --native-nftables ${c.argv.join(' ') || '(no flags)'}: ${c.name} (nft/${c.golden}.golden)`, async () => {
      const config = resolveConfig(parseArgs(c.argv).flags, c.env ?? {}, c.host ?? {});
      await golden(`nft/${c.golden}`, renderNftDryRun(config));
      let out = '';
      const code = await runIptablesCommand([...c.argv, '--native-nftables', '--dry-run'], c.env ?? {}, { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => undefined } }, throwingExecutor, c.host);
      expect([code, out]).to.deep.equal([0, await readFile(path.join(here, 'testdata', 'nft', `${c.golden}.golden`), 'utf8')]);
      // Read back from nft's own listing of exactly these tables, the rule set is in sync and the plan empty.
      const ruleSet = buildNftRuleSet(config);
      const live = parseNftList(listing(ruleSet));
      expect(nftDiff(ruleSet, live).inSync).to.equal(true);
      expect(planNftApply(ruleSet, live)).to.equal(undefined);
    });
  }
});

/** The tables as `nft list ruleset` prints them, with counter values. */
function listing(ruleSet: NftRuleSet): string {
  return ruleSet.tables
    .map((t) => {
      const chains = t.chains.map((ch) => `\tchain ${ch.name} {\n${ch.base === undefined ? '' : `\t\t${ch.base}\n`}${ch.rules.map((r) => `\t\t${r.replace(/\bcounter\b/, 'counter packets 3 bytes 180')}\n`).join('')}\t}\n`);
      return `table inet ${t.name} {\n${chains.join('\n')}}\n`;
    })
    .join('');
}
