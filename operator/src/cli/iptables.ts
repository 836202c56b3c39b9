import type { Command } from 'commander';
import { runIptablesCommand, SystemExecutor } from '../iptables/index.js';
import { environment } from '../config/index.js';

/**
 * `mizzen iptables [istio-iptables flags]`: programs (or with --dry-run prints) the sidecar redirection of
 * the current network namespace, with istio-iptables' flags, defaults and environment knobs.
 */
export function registerIptables(program: Command): void {
  program
    .command('iptables')
    .description("Program sidecar traffic redirection with istio-iptables' flags (--dry-run prints the iptables-restore input)")
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]')
    .action(async (args: string[]) => {
      const code = await runIptablesCommand(args, environment(), process, new SystemExecutor());
      if (code !== 0) process.exitCode = code;
    });
}
