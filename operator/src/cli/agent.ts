import type { Command } from 'commander';
import { type AgentFlags, loadAgentConfig } from '../config/agent.js';
import { ConfigError } from '../config/index.js';
import { startAgent } from '../agent/agent.js';
import { UserError } from './errors.js';

/** `mizzen agent`: the node agent run by the istio-cni-node DaemonSet (flags as the renderer emits them). */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('Run the CNI node agent: install mizzen-cni, serve it on a unix socket, repair pods and restore drifted rules')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--node-name <name>', 'the node whose pods this agent serves (default: $NODE_NAME)')
    .option('--config-dir <dir>', 'the istio-cni-config ConfigMap mounted as files (default: built-in defaults)')
    .option('--cni-bin-dir <dir>', "where to install the plugin (the host's cniBinDir as mounted; default: the config's cniBinDir)")
    .option('--cni-conf-dir <dir>', "the primary CNI's configuration directory as mounted (default: the config's cniConfDir)")
    .option('--netns-dir <dir>', "where the host's /var/run/netns is mounted (default /var/run/netns)")
    .option('--socket-dir <dir>', 'directory of the plugin socket, the same path as on the host (default /var/run/mizzen)')
    .option('--cni-cache-dir <dir>', "libcni's cache directory, the host's /var/lib/cni as mounted (default /var/lib/cni)")
    .option('--plugin-path <file>', 'the mizzen-cni executable to install (default: dist/mizzen-cni of this installation)')
    .option('--probe-addr <host:port>', 'address of /healthz, /readyz and /metrics (default :8000)')
    .option('--log-level <level>', 'debug, info, warn, error, none (default: the config\'s logLevel)')
    .option('--log-format <fmt>', 'json or text (default: text on a terminal, json otherwise)')
    .option('--drift-interval <d>', 'how often every pod is checked for drifted rules and repair (default 30s)')
    .option('--install-check-interval <d>', 'periodic check of the CNI configuration behind the file watch (default 1s)')
    .option('--pod-wait <d>', 'how long ADD waits for a pod that is not in the cache yet (default 5s)')
    .action(async (flags: AgentFlags) => {
      let config;
      try {
        config = loadAgentConfig(flags);
      } catch (err) {
        if (err instanceof ConfigError) throw new UserError(err.message);
        throw err;
      }
      const agent = await startAgent(config);
      await agent.done;
    });
}
