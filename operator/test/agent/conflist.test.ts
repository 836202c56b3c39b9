import { expect } from 'chai';
import { type ConfFile, confProblem, hasEntryLast, isConfFileName, isOriginalOf, pickConfFile, planInsert, planRemove, pluginEntry, render } from '../../src/agent/conflist.js';

const entry = pluginEntry({ agentSocket: '/var/run/mizzen/cni.sock' });
const bridge = { type: 'bridge', bridge: 'cni0', ipam: { type: 'host-local', subnet: '10.1.0.0/16' } };
const conflist = (plugins: unknown[], extra: Record<string, unknown> = {}): string => render({ cniVersion: '1.0.0', name: 'k8s', ...extra, plugins });
const f = (name: string, content: string): ConfFile => ({ name, content });

describe('agent conflist edits (pure)', () => {
  describe('picking the primary file as Istio does', () => {
    const cases: { name: string; files: ConfFile[]; configured?: string; want: string | RegExp }[] = [
      { name: 'takes the first valid file by name', files: [f('20-b.conflist', conflist([bridge])), f('10-a.conf', JSON.stringify(bridge))], want: '10-a.conf' },
      { name: 'skips files that are not network configurations', files: [f('00-x.conf', '{"name":"x"}'), f('05-y.conflist', '{"plugins":[]}'), f('10-a.conflist', conflist([bridge]))], want: '10-a.conflist' },
      { name: 'ignores other extensions and dotfiles', files: [f('00.json', JSON.stringify(bridge)), f('.00-tmp.conflist', conflist([bridge])), f('99-z.conflist', conflist([bridge]))], want: '99-z.conflist' },
      { name: 'takes cniConfFileName when it is set', files: [f('10-a.conflist', conflist([bridge])), f('20-b.conflist', conflist([bridge]))], configured: '20-b.conflist', want: '20-b.conflist' },
      { name: 'takes the .conflist twin of a configured .conf that was already converted', files: [f('10-a.conflist', conflist([bridge, entry]))], configured: '10-a.conf', want: '10-a.conflist' },
      { name: 'waits for a configured file that does not exist', files: [f('10-a.conflist', conflist([bridge]))], configured: '20-b.conflist', want: /20-b.conflist does not exist yet/ },
      { name: 'waits when the directory has no configuration', files: [], want: /no .conf or .conflist file yet/ },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const got = pickConfFile(c.files, c.configured ?? '');
        if (typeof c.want === 'string') expect(got.file?.name).to.equal(c.want);
        else expect('reason' in got ? got.reason : got.file.name).to.match(c.want);
      });
    }
    it('names what is wrong with invalid files', () => {
      expect(confProblem(f('a.conf', 'nope'))).to.equal('is not a JSON object');
      expect(confProblem(f('a.conflist', '{"plugins":[{}]}'))).to.equal('has a plugin without a type');
      expect(isConfFileName('a.conf.bak')).to.equal(false);
    });
  });

  describe('inserting our entry', () => {
    it('appends it as the last plugin of a conflist, keeping everything else as it was', () => {
      const plan = planInsert(f('10-k8s.conflist', conflist([bridge, { type: 'portmap', capabilities: { portMappings: true } }], { disableCheck: true })), entry);
      expect(plan?.name).to.equal('10-k8s.conflist');
      expect(plan?.remove).to.equal(undefined);
      expect(JSON.parse(plan?.content ?? '')).to.deep.equal({ cniVersion: '1.0.0', name: 'k8s', disableCheck: true, plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true } }, entry] });
    });
    it('wraps a single .conf into a .conflist of the same name and removes the .conf', () => {
      const plan = planInsert(f('10-bridge.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'br', ...bridge })), entry);
      expect(plan?.name).to.equal('10-bridge.conflist');
      expect(plan?.remove).to.equal('10-bridge.conf');
      expect(JSON.parse(plan?.content ?? '')).to.deep.equal({ cniVersion: '0.4.0', name: 'br', plugins: [{ cniVersion: '0.4.0', name: 'br', ...bridge }, entry] });
    });
    it('is a no-op when our entry is already last (no write, so watching our own write ends)', () => {
      const content = conflist([bridge, entry]);
      expect(planInsert(f('a.conflist', content), entry)).to.equal(undefined);
      expect(hasEntryLast(f('a.conflist', content), entry)).to.equal(true);
    });
    it('moves our entry back to the end when the primary CNI appended a plugin after it', () => {
      const plan = planInsert(f('a.conflist', conflist([bridge, entry, { type: 'portmap' }])), entry);
      expect((JSON.parse(plan?.content ?? '') as { plugins: unknown[] }).plugins).to.deep.equal([bridge, { type: 'portmap' }, entry]);
    });
    it('replaces an entry with an outdated socket path and drops duplicates', () => {
      const old = pluginEntry({ agentSocket: '/old.sock' });
      const plan = planInsert(f('a.conflist', conflist([old, bridge, old])), entry);
      expect((JSON.parse(plan?.content ?? '') as { plugins: unknown[] }).plugins).to.deep.equal([bridge, entry]);
    });
    it('renders deterministically: two-space JSON with a trailing newline', () => {
      expect(planInsert(f('a.conflist', '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}'), entry)?.content).to.equal(
        '{\n  "cniVersion": "1.0.0",\n  "name": "n",\n  "plugins": [\n    {\n      "type": "bridge"\n    },\n    {\n      "type": "mizzen-cni",\n      "agentSocket": "/var/run/mizzen/cni.sock"\n    }\n  ]\n}\n',
      );
    });
  });

  describe('removing our entry', () => {
    it('removes exactly the mizzen-cni entries and nothing else', () => {
      const out = planRemove(f('a.conflist', conflist([bridge, entry, { type: 'portmap' }])));
      expect(JSON.parse(out ?? '')).to.deep.equal({ cniVersion: '1.0.0', name: 'k8s', plugins: [bridge, { type: 'portmap' }] });
    });
    it('leaves files without our entry alone', () => {
      expect(planRemove(f('a.conflist', conflist([bridge])))).to.equal(undefined);
      expect(planRemove(f('a.conf', JSON.stringify(bridge)))).to.equal(undefined);
      expect(planRemove(f('a.conflist', 'garbage'))).to.equal(undefined);
    });
  });

  describe('recognising the primary CNI\'s own file under our insert', () => {
    const own = '{"cniVersion": "1.0.0", "name": "k8s",\n "plugins": [{"type": "bridge", "bridge": "cni0"}]}\n';
    const chained = (orig: ConfFile): ConfFile => {
      const plan = planInsert(orig, entry)!;
      return f(plan.name, plan.content);
    };
    it('is true for the file we wrote from it, however it was formatted', () => {
      expect(isOriginalOf(f('a.conflist', own), chained(f('a.conflist', own)))).to.equal(true);
    });
    it('is true for a .conf and the .conflist we wrapped it into', () => {
      const conf = f('a.conf', '{ "cniVersion": "0.4.0", "name": "br", "type": "bridge" }');
      expect(isOriginalOf(conf, chained(conf))).to.equal(true);
    });
    it('is false once the primary CNI changed something else, for another file, or without our entry', () => {
      const changed = chained(f('a.conflist', own.replace('cni0', 'cni1')));
      expect(isOriginalOf(f('a.conflist', own), changed)).to.equal(false);
      expect(isOriginalOf(f('a.conflist', own), { ...chained(f('a.conflist', own)), name: 'b.conflist' })).to.equal(false);
      expect(isOriginalOf(f('a.conflist', own), f('a.conflist', own))).to.equal(false);
      expect(isOriginalOf(f('a.conflist', 'garbage'), chained(f('a.conflist', own)))).to.equal(false);
    });
  });
});
