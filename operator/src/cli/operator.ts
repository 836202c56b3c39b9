import type { Command } from 'commander';
import { ConfigError, loadOperatorConfig, type OperatorFlags } from '../config/index.js';
import { startOperator } from '../main.js';
import { IdentityError } from '../controllers/serviceexport/index.js';
import { UserError } from './errors.js';
import { registerUninstall } from './uninstall.js';

export function registerOperator(program: Command): void {
  const operator = program
    .command('operator')
    .description('Run the mizzen controllers against the cluster of KUBECONFIG (or the in-cluster config)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--namespace <ns>', 'namespace of the operator: its leader Lease and peer Secrets (default mizzen-system)')
    .option('--probe-addr <host:port>', 'address of /healthz, /readyz and /metrics (default :8081)')
    .option('--no-leader-elect', 'run without leader election (one replica only)')
    .option('--lease-name <name>', 'name of the leader election Lease (default mizzen-operator)')
    .option('--lease-duration <d>', 'leader lease duration, e.g. 15s')
    .option('--identity <id>', 'leader election identity (default: hostname_pid_random)')
    .option('--log-level <level>', 'error, warn, info, debug')
    .option('--log-format <fmt>', 'json or text (default: text on a terminal, json otherwise)')
    .option('--controllers <list>', 'comma-separated controllers to run (default: all)')
    .option('--cluster-id <id>', "this cluster's id in the ClusterSet, for Multi-Cluster Services (default: ClusterProperty cluster.clusterset.k8s.io)")
    .option('--clusterset-id <id>', "the ClusterSet's id, written to ClusterProperty clusterset.k8s.io if that is missing")
    .action(async (flags: OperatorFlags) => {
      let config;
      try {
        config = loadOperatorConfig(flags);
      } catch (err) {
        if (err instanceof ConfigError) throw new UserError(err.message);
        throw err;
      }
      const op = await startOperator(config).catch((err: unknown) => {
        if (err instanceof IdentityError) throw new UserError(err.message);
        throw err;
      });
      await op.done;
    });
  registerUninstall(operator);
}
