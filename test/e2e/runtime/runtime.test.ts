import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { KubeClient } from '../../../operator/src/kube/client.js';
import { Manager } from '../../../operator/src/kube/manager.js';
import { Controller } from '../../../operator/src/kube/controller.js';
import { R } from '../../../operator/src/kube/resources.js';
import type { Informer } from '../../../operator/src/kube/informer.js';
import { silentLogger } from '../../../operator/src/util/log.js';
import { e2e } from '../lib/env.js';
import { clusterCmd, kubectl, waitFor } from '../lib/cluster.js';
import { CuttableProxy } from '../lib/proxy.js';

const ns = 'runtime-e2e';

function iop(name: string, profile = 'minimal'): Record<string, unknown> {
  return { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace: ns }, spec: { profile } };
}

/** A kubeconfig identical to `source` but whose server is 127.0.0.1:port (the proxy). */
function proxiedKubeconfig(source: string, port: number): string {
  const doc = YAML.parse(fs.readFileSync(source, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of doc.clusters) c.cluster.server = c.cluster.server.replace(/:\d+$/, `:${port}`);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-proxy-')), 'kubeconfig');
  fs.writeFileSync(file, YAML.stringify(doc));
  return file;
}

function serverPort(kubeconfig: string): number {
  const doc = YAML.parse(fs.readFileSync(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  return Number(new URL(doc.clusters[0]!.cluster.server).port);
}

interface Seen {
  key: string;
  at: number;
  exists: boolean;
  /** spec.profile in the cache when reconcile ran */
  profile?: string;
}

describe('controller runtime on a real API server', function () {
  let direct: KubeClient;
  let proxy: CuttableProxy;
  let manager: Manager;
  let informer: Informer;
  const seen: Seen[] = [];

  before(async function () {
    await kubectl(e2e.kubeconfig, ['create', 'namespace', ns]).catch(() => undefined);
    await kubectl(e2e.kubeconfig, ['delete', 'istiooperators', '--all', '-n', ns]);
    direct = await KubeClient.create(KubeClient.loadConfig(e2e.kubeconfig));
    proxy = new CuttableProxy('127.0.0.1', serverPort(e2e.kubeconfig));
    const port = await proxy.open();
    const viaProxy = await KubeClient.create(KubeClient.loadConfig(proxiedKubeconfig(e2e.kubeconfig, port)));
    manager = new Manager(viaProxy, { probeHost: '127.0.0.1', probePort: 0 }, silentLogger());
    informer = manager.informer(R.istioOperator, { namespace: ns });
    const controller = new Controller(
      {
        name: 'probe',
        reconcile: (key) => {
          const [namespace, name] = key.split('/');
          const obj = informer.get(name!, namespace) as { spec?: { profile?: string } } | undefined;
          seen.push({ key, at: Date.now(), exists: obj !== undefined, profile: obj?.spec?.profile });
          return Promise.resolve();
        },
        rateLimiter: { baseDelayMs: 10, maxDelayMs: 1000, qps: 100, burst: 100 },
      },
      silentLogger(),
      manager.metrics,
    ).watchRoot(informer);
    manager.add(controller);
    await manager.start();
    await manager.waitForCacheSync();
  });

  after(async function () {
    await manager?.stop();
    await proxy?.cut();
    direct?.close();
    // Nothing reconciles these, so they carry no finalizer; later suites must not inherit them.
    await kubectl(e2e.kubeconfig, ['delete', 'namespace', ns, '--wait=true', '--timeout=60s']);
  });

  function lastSeen(key: string): Seen | undefined {
    return [...seen].reverse().find((s) => s.key === key);
  }

  it('delivers a custom resource change to reconcile at once (latencies printed)', async function () {
    const t0 = Date.now();
    await direct.apply(iop('first'));
    const created = await waitFor('reconcile of the new IstioOperator', () => seen.find((s) => s.key === `${ns}/first` && s.at >= t0), 10_000, 10);
    const createLatency = created.at - t0;
    const t1 = Date.now();
    await direct.apply(iop('first', 'demo'));
    const changed = await waitFor('reconcile of the change', () => seen.find((s) => s.key === `${ns}/first` && s.profile === 'demo'), 10_000, 10);
    const changeLatency = changed.at - t1;
    console.log(`      create→reconcile ${createLatency} ms, change→reconcile ${changeLatency} ms`);
    // Printed figures; the bounds only catch a change seen by a resync or relist instead of the watch.
    expect(createLatency).to.be.below(5000);
    expect(changeLatency).to.be.below(5000);
  });

  it('resumes after its connection is cut without missing a delete made meanwhile', async function () {
    await direct.apply(iop('doomed'));
    await direct.apply(iop('survivor'));
    await waitFor('both objects in the cache', () => informer.get('doomed', ns) && informer.get('survivor', ns), 5000, 10);
    const listsBefore = informer.stats.lists;
    const errorsBefore = informer.stats.errors;

    await proxy.cut();
    await direct.delete(R.istioOperator, 'doomed', ns);
    await direct.apply(iop('newcomer'));
    expect(informer.get('doomed', ns), 'the cut informer cannot have seen the delete yet').to.not.equal(undefined);
    const cutAt = Date.now();
    await proxy.open();

    await waitFor('the delete to reach the cache', () => informer.get('doomed', ns) === undefined, 30_000, 20);
    await waitFor('the newcomer to reach the cache', () => informer.get('newcomer', ns), 30_000, 20);
    const deleted = await waitFor('reconcile of the deleted key', () => seen.find((s) => s.key === `${ns}/doomed` && s.at >= cutAt && !s.exists), 5000, 10);
    expect(deleted.exists).to.equal(false);
    expect(informer.get('survivor', ns)).to.not.equal(undefined);
    expect(informer.stats.errors, 'the watch really failed').to.be.greaterThan(errorsBefore);
    expect(informer.stats.lists, 'resumed from its resourceVersion instead of relisting').to.equal(listsBefore);
  });

  it('recovers after the API server restarts, seeing changes made while it was down', async function () {
    const restartsBefore = informer.stats.restarts;
    await clusterCmd('stop-apiserver', e2e.name);
    await clusterCmd('start-apiserver', e2e.name);
    // Changes right after the restart race the informer's reconnect; both orders must end the same.
    await direct.delete(R.istioOperator, 'survivor', ns);
    await direct.apply(iop('after-restart'));
    await waitFor('the delete after the restart', () => informer.get('survivor', ns) === undefined, 60_000, 50);
    await waitFor('the create after the restart', () => informer.get('after-restart', ns), 60_000, 50);
    await waitFor('reconcile of the created key', () => lastSeen(`${ns}/after-restart`), 10_000, 20);
    expect(informer.stats.restarts).to.be.greaterThan(restartsBefore);
    const live = await direct.list(R.istioOperator, { namespace: ns });
    expect(informer.list(ns).map((o) => o.metadata?.name).sort()).to.deep.equal(live.items.map((o) => o.metadata?.name).sort());
  });
});
