import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { GROUP_FILE, type HostFiles, RESOLV_CONF, runIptablesCommand, SystemExecutor } from '../iptables/index.js';
import { environment } from '../config/index.js';

function readOrUndefined(file: string): () => string | undefined {
  return () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
}

/** What istio-iptables reads from its own container: the resolver's nameservers and the group database. */
export const HOST_FILES: HostFiles = { resolvConf: readOrUndefined(RESOLV_CONF), groupFile: readOrUndefined(GROUP_FILE) };

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
      const code = await runIptablesCommand(args, environment(), process, new SystemExecutor(), HOST_FILES);
      if (code !== 0) process.exitCode = code;
    });
}
