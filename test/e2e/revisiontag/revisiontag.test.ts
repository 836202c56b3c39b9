import { expect } from 'chai';
import YAML from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { RevisionTag } from '../../../operator/src/api/index.js';
import { R } from '../../../operator/src/kube/resources.js';
import { DEACTIVATED_CONDITION, injectedRevision } from '../../../operator/src/render/revisiontag/index.js';
import { e2e } from '../lib/env.js';
import { kubectl, sleep, waitFor } from '../lib/cluster.js';
import { apiWrites, logTail, metricSum, startOperatorProcess, stopOperatorProcess, waitForReconcile, type OperatorProcess } from '../lib/operator.js';
import { TagLab, mizzen, type Mwc, type Pod } from './lab.js';
import { makePki } from './receiver.js';

type Tag = RevisionTag & KubernetesObject;

const cp = 'tags-e2e-system'; // control planes and RevisionTags
const app = 'app'; // labelled istio.io/rev=prod-stable
const other = 'tags-e2e-other'; // a second namespace holding a namesake RevisionTag
const legacy = 'tags-e2e-legacy'; // labelled istio-injection=enabled, for the default tag

describe('revision tags on a real cluster: the API server calls real injection webhooks', function () {
  let lab: TagLab;
  let op: OperatorProcess;

  const tag = (name: string, ns = cp): Promise<Tag | undefined> => lab.client.get<Tag>(R.revisionTag, name, ns);
  const tagWebhook = (name: string): Promise<Mwc | undefined> => lab.client.get<Mwc>(R.mutatingWebhook, `istio-revision-tag-${name}`);
  /** Waits until the operator has reported on the tag's current generation with this Ready reason. */
  const reported = (name: string, reason: string, ns = cp): Promise<Tag> =>
    waitFor(`RevisionTag ${ns}/${name} to report Ready reason ${reason}`, async () => {
      const t = await tag(name, ns);
      const ready = t?.status?.conditions?.find((c) => c.type === 'Ready');
      return t && t.status?.observedGeneration === t.metadata?.generation && ready?.reason === reason ? t : false;
    }, 60_000, 100);
  const applyTag = (name: string, revision: string, ns = cp): Promise<Tag> =>
    lab.client.apply<Tag>({ apiVersion: 'install.istio.io/v1alpha1', kind: 'RevisionTag', metadata: { name, namespace: ns }, spec: { revision } });
  const expectInjectedBy = (pod: Pod, revision: string): void => {
    expect(injectedRevision(pod), `pod ${pod.metadata?.name ?? ''}`).to.equal(revision);
    const name = pod.metadata?.name ?? '';
    const ns = pod.metadata?.namespace ?? '';
    const calls = [...lab.receivers.values()].flatMap((r) => r.admissionsOf(ns, name).filter((c) => c.injected).map(() => r.revision));
    expect(calls, `injectors that injected ${ns}/${name}`).to.deep.equal([revision]);
  };

  before(async function () {
    this.timeout(240_000);
    lab = new TagLab(e2e.kubeconfig, cp);
    await lab.open();
    op = await startOperatorProcess(e2e.kubeconfig, ['--no-leader-elect', '--controllers', 'istiooperator,revisiontag']);
    for (const rev of ['1-7-6', '1-8-3']) await lab.installRevision(rev);
    // istiod patches its webhook's caBundle; here the test does, for both revisions.
    for (const rev of ['1-7-6', '1-8-3']) await lab.patchCaBundle(rev, lab.pki.caBundle);
    await lab.ensureNamespace(app, { 'istio.io/rev': 'prod-stable' });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`      operator log:\n${logTail(op, 60)}`);
  });

  after(async function () {
    this.timeout(240_000);
    // RevisionTags and IstioOperators carry finalizers only the running operator removes: delete them first.
    for (const ns of [cp, other]) await kubectl(e2e.kubeconfig, ['delete', 'revisiontags', '--all', '-n', ns, '--ignore-not-found', '--timeout=60s']).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'mutatingwebhookconfiguration', 'legacy-canary-injector', '--ignore-not-found']).catch(() => undefined);
    await lab?.close();
    await stopOperatorProcess(op);
    for (const ns of [app, other, legacy, cp]) await kubectl(e2e.kubeconfig, ['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  });

  it('tag set prod-stable --revision 1-7-6: its webhook calls 1-7-6, and a new pod in app is injected by 1-7-6', async function () {
    const r = await mizzen(e2e.kubeconfig, ['tag', 'set', 'prod-stable', '--revision', '1-7-6', '-n', cp, '--wait', '60s']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('Namespaces that move with it: app');
    expect(r.stdout).to.include('Revision tag "prod-stable" serves revision "1-7-6".');
    const mwc = await tagWebhook('prod-stable');
    expect(mwc?.metadata?.labels).to.include({ 'istio.io/tag': 'prod-stable', 'istio.io/rev': '1-7-6' });
    expect(mwc?.webhooks?.map((w) => [w.name, w.failurePolicy, w.clientConfig.url, w.clientConfig.caBundle])).to.deep.equal([
      ['rev.namespace.sidecar-injector.istio.io', 'Fail', lab.receiver('1-7-6').url, lab.pki.caBundle],
      ['rev.object.sidecar-injector.istio.io', 'Fail', lab.receiver('1-7-6').url, lab.pki.caBundle],
    ]);
    expect(mwc?.webhooks?.[0]?.namespaceSelector?.matchExpressions).to.deep.equal([
      { key: 'istio.io/rev', operator: 'In', values: ['prod-stable'] },
      { key: 'istio-injection', operator: 'DoesNotExist' },
    ]);
    expectInjectedBy(await lab.createPod(app, 'first'), '1-7-6');
    const t = await reported('prod-stable', 'Serving');
    expect(t.status).to.deep.include({ revision: '1-7-6', namespaces: [app] });
    expect(t.status?.conditions?.find((c) => c.type === 'InUse')).to.include({ status: 'True', reason: 'NamespacesSelected' });
  });

  it("tag list prints istioctl's TAG REVISION NAMESPACES table, and JSON with -o json", async function () {
    const table = await mizzen(e2e.kubeconfig, ['tag', 'list']);
    expect(table.code, table.stderr).to.equal(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^TAG\s+REVISION\s+NAMESPACES$/);
    expect(lines.filter((l) => /^prod-stable\s+1-7-6\s+app$/.test(l)), table.stdout).to.have.length(1);
    const json = await mizzen(e2e.kubeconfig, ['tag', 'list', '-o', 'json']);
    const rows = JSON.parse(json.stdout) as { tag: string; revision: string; namespaces: string[] }[];
    expect(rows.find((x) => x.tag === 'prod-stable')).to.deep.include({ revision: '1-7-6', namespaces: [app] });
  });

  it('refuses to move a tag without --overwrite: one line on stderr, exit 1, nothing changed', async function () {
    const r = await mizzen(e2e.kubeconfig, ['tag', 'set', 'prod-stable', '--revision', '1-8-3', '-n', cp]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.deep.equal(['Error: revision tag "prod-stable" already points at revision "1-7-6"; pass --overwrite to move it to "1-8-3"']);
    expect((await tag('prod-stable'))?.spec.revision).to.equal('1-7-6');
  });

  it('moves prod-stable to 1-8-3 while pods keep coming: zero admission failures, each pod injected by exactly one revision', async function () {
    this.timeout(180_000);
    const created: { loop: number; seq: number; name: string; revision?: string }[] = [];
    const failures: string[] = [];
    let stop = false;
    const loop = async (id: number): Promise<void> => {
      for (let seq = 0; !stop; seq++) {
        const name = `loop-${id}-${seq}`;
        try {
          const pod = await lab.createPod(app, name);
          created.push({ loop: id, seq, name, revision: injectedRevision(pod) });
        } catch (err) {
          failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
        }
        await sleep(200);
      }
    };
    const loops = [loop(0), loop(1)];
    const count = (rev: string): number => created.filter((c) => c.revision === rev).length;
    try {
      await waitFor('pods injected by 1-7-6 before the move', () => count('1-7-6') >= 10, 30_000, 50);
      const r = await mizzen(e2e.kubeconfig, ['tag', 'set', 'prod-stable', '--revision', '1-8-3', '--overwrite', '-y', '-n', cp]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include('Revision tag "prod-stable" moves from revision "1-7-6" to "1-8-3".');
      expect(r.stdout).to.match(/Pods that need a restart to run revision "1-8-3": (\d+)/);
      expect(Number(/restart to run revision "1-8-3": (\d+)/.exec(r.stdout)?.[1])).to.be.at.least(11);
      await waitFor('pods injected by 1-8-3 after the move', () => count('1-8-3') >= 10, 60_000, 50);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    console.log(`      ${created.length} pods created while the tag moved (${count('1-7-6')} by 1-7-6, ${count('1-8-3')} by 1-8-3), ${failures.length} admission failures`);
    expect(failures).to.deep.equal([]);
    for (const c of created) {
      const pod = await lab.client.get<Pod>(R.pod, c.name, app);
      expect(pod, c.name).to.not.equal(undefined);
      expectInjectedBy(pod as Pod, c.revision ?? 'none');
    }
    // The switch is one apply of one configuration: within each loop, once 1-8-3 injects, 1-7-6 never does again.
    for (const id of [0, 1]) {
      const revs = created.filter((c) => c.loop === id).sort((a, b) => a.seq - b.seq).map((c) => c.revision);
      expect(revs.slice(revs.indexOf('1-8-3')), `loop ${id}`).to.not.include('1-7-6');
    }
    expectInjectedBy(await lab.createPod(app, 'after-move'), '1-8-3');
  });

  it('status counts the pods in app still running a 1-7-6 sidecar, and follows as they go', async function () {
    const old = async (): Promise<string[]> =>
      (await lab.client.list<Pod>(R.pod, { namespace: app })).items.filter((p) => !p.metadata?.deletionTimestamp && injectedRevision(p) === '1-7-6').map((p) => p.metadata?.name ?? '');
    const before = await old();
    expect(before.length).to.be.at.least(11);
    const t = await waitFor('podsNeedingRestart to count the 1-7-6 pods', async () => ((await tag('prod-stable'))?.status?.podsNeedingRestart === before.length ? tag('prod-stable') : false), 30_000, 100);
    expect(t?.status).to.deep.include({ revision: '1-8-3', namespaces: [app] });
    await kubectl(e2e.kubeconfig, ['delete', 'pod', '-n', app, '--grace-period=0', '--force', ...before.slice(0, 5)]);
    await waitFor('podsNeedingRestart to drop by 5', async () => (await tag('prod-stable'))?.status?.podsNeedingRestart === before.length - 5, 30_000, 100);
  });

  it("keeps the tag webhook's caBundle in sync with its revision's as the CA rotates", async function () {
    const next = await makePki('rotated');
    const both = Buffer.from(lab.pki.caPem + next.caPem).toString('base64');
    const bundles = async (): Promise<string[]> => ((await tagWebhook('prod-stable'))?.webhooks ?? []).map((w) => w.clientConfig.caBundle ?? '');
    await lab.patchCaBundle('1-8-3', both);
    await waitFor('the tag webhook to carry the old and new CA', async () => (await bundles()).every((b) => b === both), 30_000, 100);
    lab.receiver('1-8-3').rotate(next);
    expectInjectedBy(await lab.createPod(app, 'rotated-1'), '1-8-3');
    await lab.patchCaBundle('1-8-3', next.caBundle);
    await waitFor('the tag webhook to carry only the new CA', async () => (await bundles()).every((b) => b === next.caBundle), 30_000, 100);
    expectInjectedBy(await lab.createPod(app, 'rotated-2'), '1-8-3');
    expect((await tag('prod-stable'))?.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('Serving');
  });

  it('makes no API writes when a reconcile finds nothing changed, and recorded the move as one Event', async function () {
    // Let the work of earlier steps finish: the RevisionTag queue empty and its reconcile count steady.
    const settled = await waitForReconcile(op, 'revisiontag', -1);
    const before = await apiWrites(op);
    // A namespace event enqueues every tag; nothing they depend on changed.
    await kubectl(e2e.kubeconfig, ['label', 'namespace', cp, `mizzen-e2e-touch=${Date.now()}`, '--overwrite']);
    await waitForReconcile(op, 'revisiontag', settled);
    expect(await apiWrites(op)).to.equal(before);
    const moved = JSON.parse(await kubectl(e2e.kubeconfig, ['get', 'events', '-n', cp, '--field-selector', 'involvedObject.name=prod-stable,reason=Moved', '-o', 'json'])) as {
      items: { message: string; count?: number }[];
    };
    expect(moved.items.map((e) => [e.message, e.count ?? 1])).to.deep.equal([['Moved tag prod-stable from revision 1-7-6 to 1-8-3 (MutatingWebhookConfiguration istio-revision-tag-prod-stable)', 1]]);
  });

  it('NameConflict: a tag named like an installed revision is refused by the CLI and by the controller', async function () {
    const r = await mizzen(e2e.kubeconfig, ['tag', 'set', '1-7-6', '--revision', '1-8-3', '-n', cp]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^Error: cannot set tag "1-7-6" \(NameConflict\): tag "1-7-6" is the name of an installed revision/);
    await applyTag('1-7-6', '1-8-3');
    const t = await reported('1-7-6', 'NameConflict');
    expect(t.status?.conditions?.find((c) => c.type === 'Ready')).to.include({ status: 'False' });
    expect(t.status).to.not.have.property('revision');
    expect(await tagWebhook('1-7-6')).to.equal(undefined);
    const events = await kubectl(e2e.kubeconfig, ['get', 'events', '-n', cp, '--field-selector', 'involvedObject.name=1-7-6,reason=NameConflict', '-o', 'name']);
    expect(events.trim()).to.not.equal('');
    await lab.client.delete(R.revisionTag, '1-7-6', cp);
    await waitFor('tag 1-7-6 to go', async () => !(await tag('1-7-6')), 30_000, 100);
  });

  it('RevisionNotFound: moving to a revision that is not installed keeps the old webhook serving', async function () {
    await applyTag('prod-stable', '9-9-9');
    const t = await reported('prod-stable', 'RevisionNotFound');
    expect(t.status?.revision).to.equal('1-8-3');
    expect(t.status?.conditions?.find((c) => c.type === 'Ready')?.message).to.include('still sends pods to revision 1-8-3');
    const mwc = await tagWebhook('prod-stable');
    expect(mwc?.metadata?.labels?.['istio.io/rev']).to.equal('1-8-3');
    expect(mwc?.webhooks?.map((w) => w.clientConfig.url)).to.deep.equal([lab.receiver('1-8-3').url, lab.receiver('1-8-3').url]);
    expectInjectedBy(await lab.createPod(app, 'during-not-found'), '1-8-3');
    const list = await mizzen(e2e.kubeconfig, ['tag', 'list']);
    expect(list.stdout).to.match(/^prod-stable\s+1-8-3 \(wants 9-9-9: RevisionNotFound\)\s+app$/m);
    await applyTag('prod-stable', '1-8-3');
    await reported('prod-stable', 'Serving');
  });

  it('Overlap: a namesake tag in another namespace and a hand-made injector are refused; the serving webhook stays', async function () {
    await lab.ensureNamespace(other);
    await applyTag('prod-stable', '1-7-6', other);
    const namesake = await reported('prod-stable', 'Overlap', other);
    expect(namesake.status?.conditions?.find((c) => c.type === 'Ready')?.message).to.include(`RevisionTag ${cp}/prod-stable`);
    const mwc = await tagWebhook('prod-stable');
    expect(mwc?.metadata?.labels).to.include({ 'mizzen.dev/revisiontag-namespace': cp, 'istio.io/rev': '1-8-3' });

    const legacyHook = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'legacy-canary-injector' },
      webhooks: [
        {
          name: 'legacy.sidecar-injector.istio.io',
          admissionReviewVersions: ['v1'],
          clientConfig: { url: lab.receiver('1-7-6').url, caBundle: lab.pki.caBundle },
          failurePolicy: 'Ignore',
          sideEffects: 'None',
          namespaceSelector: { matchLabels: { 'istio.io/rev': 'canary' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
        },
      ],
    };
    await lab.client.apply(legacyHook);
    const cli = await mizzen(e2e.kubeconfig, ['tag', 'set', 'canary', '--revision', '1-8-3', '-n', cp]);
    expect(cli.code).to.equal(1);
    expect(cli.stderr).to.match(/^Error: cannot set tag "canary" \(Overlap\): .*legacy\.sidecar-injector\.istio\.io of MutatingWebhookConfiguration legacy-canary-injector/);
    await applyTag('canary', '1-8-3');
    await reported('canary', 'Overlap');
    expect(await tagWebhook('canary')).to.equal(undefined);
    // Level-based: once the hand-made injector goes, the tag serves.
    await lab.client.delete(R.mutatingWebhook, 'legacy-canary-injector');
    await reported('canary', 'Serving');
    await lab.client.delete(R.revisionTag, 'canary', cp);
    await lab.client.delete(R.revisionTag, 'prod-stable', other);
    await waitFor('tag canary and its webhook to go', async () => !(await tag('canary')) && !(await tagWebhook('canary')), 30_000, 100);
    expect((await tagWebhook('prod-stable'))?.metadata?.labels?.['mizzen.dev/revisiontag-namespace'], 'the namesake left the serving webhook alone').to.equal(cp);
  });

  it('the default tag takes istio-injection=enabled namespaces from the default revision, so exactly one webhook injects', async function () {
    this.timeout(180_000);
    await lab.installRevision('default');
    await lab.patchCaBundle('default', lab.pki.caBundle);
    await lab.ensureNamespace(legacy, { 'istio-injection': 'enabled' });
    expectInjectedBy(await lab.createPod(legacy, 'before-default-tag'), 'default');

    const r = await mizzen(e2e.kubeconfig, ['tag', 'set', 'default', '--revision', '1-8-3', '-n', cp, '--wait', '60s']);
    expect(r.code, r.stderr).to.equal(0);
    expect((await tagWebhook('default'))?.webhooks?.map((w) => w.name)).to.deep.equal([
      'rev.namespace.sidecar-injector.istio.io',
      'rev.object.sidecar-injector.istio.io',
      'namespace.sidecar-injector.istio.io',
      'object.sidecar-injector.istio.io',
    ]);
    const switchedOff = async (): Promise<boolean> =>
      ((await lab.revisionWebhook('default')).webhooks ?? []).every((w) => (w.matchConditions ?? []).some((c) => c.name === DEACTIVATED_CONDITION && c.expression === 'false'));
    await waitFor('the default revision webhook to be switched off', switchedOff, 30_000, 100);
    expectInjectedBy(await lab.createPod(legacy, 'with-default-tag'), '1-8-3');
    // The IstioOperator controller re-applies its webhook when it changes; it owns no matchCondition, so it stays off.
    // Make it reconcile the control plane once more (an annotation) and wait for that before looking.
    const iopReconciles = await metricSum(op, 'mizzen_reconcile_total', { controller: 'istiooperator' });
    await kubectl(e2e.kubeconfig, ['annotate', '-n', cp, 'istiooperator', 'cp-default', `mizzen-e2e-poke=${Date.now()}`, '--overwrite']);
    await waitForReconcile(op, 'istiooperator', iopReconciles);
    expect(await switchedOff(), 'still switched off after the IstioOperator controller reconciled').to.equal(true);
    expect(((await lab.revisionWebhook('default')).webhooks ?? []).map((w) => w.clientConfig.url)).to.include(lab.receiver('default').url);

    const rm = await mizzen(e2e.kubeconfig, ['tag', 'remove', 'default', '-y', '-n', cp]);
    expect(rm.code, rm.stderr).to.equal(0);
    await waitFor('the default tag webhook to go', async () => !(await tagWebhook('default')), 30_000, 100);
    expect(((await lab.revisionWebhook('default')).webhooks ?? []).some((w) => (w.matchConditions ?? []).length > 0), 'switched back on').to.equal(false);
    expectInjectedBy(await lab.createPod(legacy, 'after-default-tag'), 'default');
  });

  it('tag generate prints the webhook YAML without a cluster', async function () {
    const r = await mizzen('/nonexistent/kubeconfig', ['tag', 'generate', 'prod-stable', '--revision', '1-8-3', '--injection-url', 'https://istiod.example:15017/inject']);
    expect(r.code, r.stderr).to.equal(0);
    const mwc = YAML.parse(r.stdout) as Mwc;
    expect(mwc.metadata?.name).to.equal('istio-revision-tag-prod-stable');
    expect(mwc.webhooks?.map((w) => w.clientConfig.url)).to.deep.equal(['https://istiod.example:15017/inject', 'https://istiod.example:15017/inject']);
  });

  it('removing a tag still in use asks first, then deletes its webhook with a Warning Event naming the namespaces', async function () {
    const refused = await mizzen(e2e.kubeconfig, ['tag', 'remove', 'prod-stable', '-n', cp]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include('Caution: namespace(s) app still select tag "prod-stable"');
    expect(refused.stderr.trim().split('\n').pop()).to.equal('Error: did not remove tag "prod-stable": still in use (pass -y to remove it anyway)');
    const r = await mizzen(e2e.kubeconfig, ['tag', 'remove', 'prod-stable', '-y', '-n', cp]);
    expect(r.code, r.stderr).to.equal(0);
    await waitFor('the RevisionTag and its webhook to go', async () => !(await tag('prod-stable')) && !(await tagWebhook('prod-stable')), 30_000, 100);
    const events = JSON.parse(await kubectl(e2e.kubeconfig, ['get', 'events', '-n', cp, '--field-selector', 'involvedObject.name=prod-stable,reason=InUse', '-o', 'json'])) as {
      items: { type: string; message: string }[];
    };
    expect(events.items.map((e) => [e.type, e.message])).to.deep.include([
      'Warning',
      `Deleted MutatingWebhookConfiguration istio-revision-tag-prod-stable while namespace(s) ${app} still select tag prod-stable: their new pods are no longer injected`,
    ]);
    expect(injectedRevision(await lab.createPod(app, 'after-remove'))).to.equal(undefined);
  });
});
