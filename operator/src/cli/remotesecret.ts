// `mizzen remote-secret create`: the Secret an istiod in one cluster reads to reach another cluster's API server,
// as `istioctl create-remote-secret` makes it (render/remotesecret.ts), printed as YAML or applied with
// --apply-to. Everything is checked before anything is written: the remote cluster answers, the ServiceAccount
// exists, the external cluster answers and holds no other cluster's remote secret under that name. Only then is a
// token Secret created (where the ServiceAccount has none) and the remote secret applied; a failure after the
// token Secret was created deletes it again.
import type { Command } from 'commander';
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { KubeClient } from '../kube/client.js';
import { ApiError, errorMessage } from '../kube/errors.js';
import { R } from '../kube/resources.js';
import { toYaml, type KubernetesObject as Rendered } from '../render/index.js';
import {
  MULTICLUSTER_LABEL,
  REMOTE_SECRET_TYPES,
  SA_NAME_ANNOTATION,
  SA_TOKEN_TYPE,
  bearerTokenKubeconfig,
  checkClusterName,
  defaultServiceAccount,
  readable,
  remoteSecret,
  remoteSecretClash,
  tokenSecretGenerateName,
  type RemoteSecretType,
} from '../render/remotesecret.js';
import { UserError } from './errors.js';

/** The field manager of remote secrets applied by the CLI (the operator's own are written as `mizzen`). */
export const REMOTE_SECRET_FIELD_MANAGER = 'mizzen-remote-secret';
const REACH_TIMEOUT_MS = 5_000;

export interface RemoteSecretOptions {
  /** Kubeconfig of the remote cluster (the one the secret gives access to); undefined: $KUBECONFIG. */
  kubeconfig?: string | undefined;
  name: string;
  type: RemoteSecretType;
  namespace: string;
  serviceAccount?: string | undefined;
  /** The API server address istiod should use; default: the kubeconfig's. */
  server?: string | undefined;
  /** Kubeconfig of the external cluster (where istiod runs) to apply the Secret to. */
  applyTo?: string | undefined;
  overwrite: boolean;
  /** How long to wait for the token controller to fill a token Secret created here. */
  tokenWaitMs: number;
}

export interface RemoteSecretIO {
  out(text: string): void;
  err(text: string): void;
}

const processIO: RemoteSecretIO = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

async function connect(path: string | undefined, role: string): Promise<KubeClient> {
  let client: KubeClient;
  try {
    client = await KubeClient.create(KubeClient.loadConfig(path), REMOTE_SECRET_FIELD_MANAGER);
  } catch (err) {
    throw new UserError(`cannot use the ${role} kubeconfig ${path ?? '(default)'}: ${errorMessage(err)}`);
  }
  try {
    await client.request('GET', '/version', { timeoutMs: REACH_TIMEOUT_MS });
  } catch (err) {
    client.close();
    throw new UserError(`cannot reach the ${role} cluster at ${client.server} (kubeconfig ${path ?? '(default)'}): ${errorMessage(err)}`);
  }
  return client;
}

function decoded(secret: V1Secret, key: string): string | undefined {
  const b64 = secret.data?.[key];
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}

/** A token Secret of the ServiceAccount whose token and CA the token controller has filled, oldest name first. */
function usableTokenSecret(secrets: readonly V1Secret[], sa: string): V1Secret | undefined {
  return [...secrets]
    .filter((s) => s.type === SA_TOKEN_TYPE && s.metadata?.annotations?.[SA_NAME_ANNOTATION] === sa && !s.metadata.deletionTimestamp)
    .sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1))
    .find((s) => decoded(s, 'token') && decoded(s, 'ca.crt'));
}

async function waitForToken(client: KubeClient, namespace: string, name: string, timeoutMs: number): Promise<V1Secret | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await client.get<V1Secret & KubernetesObject>(R.secret, name, namespace);
    if (s && decoded(s, 'token') && decoded(s, 'ca.crt')) return s;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function checkDestination(external: KubeClient, desired: Rendered, overwrite: boolean): Promise<void> {
  const ns = desired.metadata.namespace ?? '';
  if (!(await external.get(R.namespace, ns))) throw new UserError(`namespace ${ns} does not exist in the external cluster (${external.server}); create it, or pass the namespace istiod runs in with --namespace`);
  const existing = (await external.list<KubernetesObject>(R.secret, { namespace: ns, labelSelector: `${MULTICLUSTER_LABEL}=true` })).items;
  const sameName = await external.get<KubernetesObject>(R.secret, desired.metadata.name, ns);
  const all = sameName && !existing.some((s) => s.metadata?.name === desired.metadata.name) ? [...existing, sameName] : existing;
  const clash = remoteSecretClash(desired, all as Rendered[], { overwrite });
  if (clash) throw new UserError(clash);
}

/**
 * A filled token Secret of the ServiceAccount; creates one (named after it) when it has none. `created` is set to
 * the name of a Secret created here, so that a later failure can delete it.
 */
async function tokenSecret(remote: KubeClient, o: RemoteSecretOptions, sa: string, io: RemoteSecretIO, created: { name?: string }): Promise<V1Secret> {
  const secrets = (await remote.list<V1Secret & KubernetesObject>(R.secret, { namespace: o.namespace, fieldSelector: `type=${SA_TOKEN_TYPE}` })).items;
  const found = usableTokenSecret(secrets, sa);
  if (found) return found;
  // One of ours the token controller has not filled yet (a run interrupted while waiting) is waited for, not doubled.
  const generateName = tokenSecretGenerateName(sa);
  const pending = secrets.find((s) => s.metadata?.name?.startsWith(generateName) && s.metadata.annotations?.[SA_NAME_ANNOTATION] === sa && !s.metadata.deletionTimestamp);
  let name = pending?.metadata?.name ?? '';
  if (!pending) {
    const made = await remote.create<V1Secret & KubernetesObject>({ apiVersion: 'v1', kind: 'Secret', type: SA_TOKEN_TYPE, metadata: { generateName, namespace: o.namespace, annotations: { [SA_NAME_ANNOTATION]: sa } } });
    name = made.metadata?.name ?? '';
    created.name = name;
    io.err(`Created token Secret ${o.namespace}/${name} for ServiceAccount ${sa} in the remote cluster\n`);
  }
  const token = await waitForToken(remote, o.namespace, name, o.tokenWaitMs);
  if (!token) throw new UserError(`the token controller did not fill Secret ${o.namespace}/${name} within ${o.tokenWaitMs / 1000} s (is kube-controller-manager running with --service-account-private-key-file?)`);
  return token;
}

async function requireServiceAccount(remote: KubeClient, o: RemoteSecretOptions, sa: string): Promise<void> {
  if (await remote.get(R.serviceAccount, sa, o.namespace)) return;
  const install = o.type === 'remote' ? 'the "external" or "remote" profile' : 'the "external" profile with values.global.configCluster=true';
  throw new UserError(`ServiceAccount ${o.namespace}/${sa} not found in the remote cluster (${remote.server}); install ${install} there first, or name another with --service-account`);
}

function userError(err: unknown): UserError {
  if (err instanceof UserError) return err;
  if (err instanceof ApiError && err.statusCode === 403) return new UserError(`not allowed: ${err.message}`);
  return new UserError(errorMessage(err));
}

/** Builds (and with applyTo applies) the remote secret; returns it. Throws UserError for anything the user can fix. */
export async function createRemoteSecret(o: RemoteSecretOptions, io: RemoteSecretIO = processIO): Promise<Rendered> {
  const nameProblem = checkClusterName(o.name);
  if (nameProblem) throw new UserError(nameProblem);
  const sa = o.serviceAccount ?? defaultServiceAccount(o.type);
  const remote = await connect(o.kubeconfig, 'remote');
  let external: KubeClient | undefined;
  const created: { name?: string } = {};
  try {
    const server = o.server ?? remote.server;
    await requireServiceAccount(remote, o, sa);
    // The external side is checked before anything is written to the remote one.
    const probe = remoteSecret({ cluster: o.name, namespace: o.namespace, kubeconfig: bearerTokenKubeconfig({ cluster: o.name, server, caPem: '', token: '' }), type: o.type });
    if (o.applyTo) {
      external = await connect(o.applyTo, 'external');
      await checkDestination(external, probe, o.overwrite);
    }
    const token = await tokenSecret(remote, o, sa, io, created);
    if (/^https?:\/\/(127\.|localhost|\[::1\])/.test(server) && !o.server) {
      io.err(`Warning: the server ${server} is a loopback address; pods in another cluster cannot reach it (pass --server)\n`);
    }
    const kubeconfig = bearerTokenKubeconfig({ cluster: o.name, server, caPem: decoded(token, 'ca.crt') ?? '', token: decoded(token, 'token') ?? '' });
    const secret = remoteSecret({ cluster: o.name, namespace: o.namespace, kubeconfig, type: o.type });
    if (external) {
      // Forced: the clash check above decided that this Secret may be replaced, whoever wrote it before.
      await external.apply(secret, { force: true });
      io.err(`Applied Secret ${o.namespace}/${secret.metadata.name} to the external cluster (${external.server})\n`);
    }
    delete created.name;
    return readable(secret);
  } catch (err) {
    if (created.name) await remote.delete(R.secret, created.name, o.namespace).catch(() => undefined);
    throw userError(err);
  } finally {
    remote.close();
    external?.close();
  }
}

interface CreateFlags {
  kubeconfig?: string;
  name: string;
  type: string;
  namespace: string;
  serviceAccount?: string;
  server?: string;
  applyTo?: string;
  overwrite?: boolean;
}

export function registerRemoteSecret(program: Command): void {
  const cmd = program.command('remote-secret').description("Secrets through which an istiod reaches another cluster's API server");
  cmd
    .command('create')
    .description('Print (or apply) the remote secret for a cluster, as istioctl create-remote-secret does')
    .requiredOption('--name <cluster>', 'the cluster name istiod knows the remote cluster by (a DNS label)')
    .option('--kubeconfig <path>', 'kubeconfig of the remote cluster (default: $KUBECONFIG, ~/.kube/config)')
    .option('--type <type>', `remote (istio-remote-secret-<name>, istio-reader-service-account) or config (istio-kubeconfig, istiod)`, 'remote')
    .option('--namespace <ns>', 'namespace of the ServiceAccount in the remote cluster and of istiod in the external one', 'istio-system')
    .option('--service-account <name>', 'ServiceAccount whose token the secret carries (default by --type)')
    .option('--server <url>', 'API server address istiod should use (default: the kubeconfig\'s)')
    .option('--apply-to <path>', 'kubeconfig of the external cluster: apply the Secret there instead of only printing it')
    .option('--overwrite', 'replace a remote secret of that name that reaches another API server', false)
    .action(async (f: CreateFlags) => {
      if (!(REMOTE_SECRET_TYPES as readonly string[]).includes(f.type)) throw new UserError(`--type must be one of ${REMOTE_SECRET_TYPES.join(', ')}, not "${f.type}"`);
      if (f.server !== undefined && !/^https?:\/\/[^/]+/.test(f.server)) throw new UserError(`--server must be a URL such as https://10.0.0.1:6443, not "${f.server}"`);
      const secret = await createRemoteSecret({
        kubeconfig: f.kubeconfig,
        name: f.name,
        type: f.type as RemoteSecretType,
        namespace: f.namespace,
        serviceAccount: f.serviceAccount,
        server: f.server,
        applyTo: f.applyTo,
        overwrite: f.overwrite === true,
        tokenWaitMs: 15_000,
      });
      processIO.out(toYaml([secret]));
    });
}
