// Stand-ins for istiod's injector: small https servers on loopback that answer AdmissionReviews the way Istio's
// sidecar injector does (a JSON Patch adding the istio-proxy container, the sidecar.istio.io/status annotation
// with the revision, and the istio.io/rev and security.istio.io/tlsMode labels), skip pods that already carry a
// sidecar, and record every call. The real kube-apiserver calls them through the injection webhooks.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Pki {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** base64 of caPem: a webhook's clientConfig.caBundle. */
  caBundle: string;
}

/** A fresh CA (ECDSA P-256) and a serving certificate for `ip` (a loopback address) signed by it, made with openssl. */
export async function makePki(commonName = 'mizzen-e2e-injector', ip = '127.0.0.1'): Promise<Pki> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mizzen-pki-'));
  const f = (n: string): string => path.join(dir, n);
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await exec('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', `/CN=${commonName}-ca`]);
    await exec('openssl', ['req', ...ec, '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', `/CN=${commonName}`]);
    fs.writeFileSync(f('ext.cnf'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
    await exec('openssl', ['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('tls.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
    const caPem = fs.readFileSync(f('ca.crt'), 'utf8');
    return { caPem, certPem: fs.readFileSync(f('tls.crt'), 'utf8'), keyPem: fs.readFileSync(f('tls.key'), 'utf8'), caBundle: Buffer.from(caPem).toString('base64') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface Admission {
  name: string;
  namespace: string;
  dryRun: boolean;
  /** False when the pod already carried a sidecar (Istio's injector skips those). */
  injected: boolean;
  at: number;
  /** The request path: the injection URL's path (e.g. /inject/cluster/remote1/net/network1), without the query. */
  path: string;
  /** The query the API server adds to the webhook URL (`timeout=10s`: the webhook's timeoutSeconds). */
  query: string;
}

interface Review {
  apiVersion?: string;
  request?: {
    uid: string;
    name?: string;
    namespace?: string;
    dryRun?: boolean;
    object?: { metadata?: { name?: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };
  };
}

const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON Patch Istio's injector would return for this pod (containers, annotation, labels). */
function injectionPatch(review: Review, revision: string): unknown[] {
  const md = review.request?.object?.metadata ?? {};
  const ops: unknown[] = [];
  if (!md.annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
  const status = { initContainers: ['istio-init'], containers: ['istio-proxy'], volumes: ['istio-envoy'], imagePullSecrets: null, revision };
  ops.push({ op: 'add', path: `/metadata/annotations/${esc('sidecar.istio.io/status')}`, value: JSON.stringify(status) });
  if (!md.labels) ops.push({ op: 'add', path: '/metadata/labels', value: {} });
  ops.push({ op: 'add', path: `/metadata/labels/${esc('istio.io/rev')}`, value: revision });
  ops.push({ op: 'add', path: `/metadata/labels/${esc('security.istio.io/tlsMode')}`, value: 'istio' });
  ops.push({ op: 'add', path: '/spec/containers/-', value: { name: 'istio-proxy', image: `docker.io/istio/proxyv2:${revision}` } });
  return ops;
}

export class InjectorReceiver {
  readonly calls: Admission[] = [];
  private server?: https.Server;
  port = 0;

  constructor(
    readonly revision: string,
    private pki: Pki,
    /** A loopback address to listen on, and a fixed port (0: any). */
    readonly host = '127.0.0.1',
    port = 0,
  ) {
    this.port = port;
  }

  get url(): string {
    return `https://${this.host}:${this.port}/inject`;
  }

  async start(): Promise<number> {
    const server = https.createServer({ cert: this.pki.certPem, key: this.pki.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let review: Review;
        try {
          review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review;
        } catch {
          res.writeHead(400).end();
          return;
        }
        const rq = review.request;
        const md = rq?.object?.metadata ?? {};
        const already = md.annotations?.['sidecar.istio.io/status'] !== undefined;
        const url = new URL(req.url ?? '/', 'https://receiver.invalid');
        this.calls.push({ name: md.name ?? rq?.name ?? '', namespace: rq?.namespace ?? '', dryRun: rq?.dryRun === true, injected: !already, at: Date.now(), path: url.pathname, query: url.search.replace(/^\?/, '') });
        const response: Record<string, unknown> = { uid: rq?.uid ?? '', allowed: true };
        if (!already) Object.assign(response, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(injectionPatch(review, this.revision))).toString('base64') });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this.port;
  }

  /** Serves a new certificate from now on (a rotation); connections already open keep the old one. */
  rotate(pki: Pki): void {
    this.pki = pki;
    this.server?.setSecureContext({ cert: pki.certPem, key: pki.keyPem });
  }

  /** Real (not dry-run) admissions of a pod. */
  admissionsOf(namespace: string, name: string): Admission[] {
    return this.calls.filter((c) => c.namespace === namespace && c.name === name && !c.dryRun);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
