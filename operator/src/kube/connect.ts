import type { KubeConfig } from '@kubernetes/client-node';
import { type ClientRateLimit, KubeClient } from './client.js';
import { errorMessage } from './errors.js';
import { ConfigError } from '../config/index.js';
import { describeConnectError } from '../config/kubeconfig.js';

/**
 * A client for the kubeconfig's cluster, after one request (GET /version) has shown that the API server can be
 * reached and trusted; an unreachable server, a TLS failure or refused credentials is a ConfigError of one line.
 */
export async function connect(kc: KubeConfig, source: string, fieldManager?: string, rateLimit?: ClientRateLimit): Promise<KubeClient> {
  let client: KubeClient;
  try {
    client = await KubeClient.create(kc, fieldManager, rateLimit);
  } catch (err) {
    throw new ConfigError(`cannot use the kubeconfig (${source}): ${errorMessage(err).split('\n')[0]}`);
  }
  try {
    await client.request('GET', '/version', { timeoutMs: 10_000 });
  } catch (err) {
    const line = describeConnectError(err, client.server, source);
    if (line) {
      client.close();
      throw new ConfigError(line);
    }
  }
  return client;
}

