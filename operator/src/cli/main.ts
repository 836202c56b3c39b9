import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { ConfigError } from '../config/index.js';

/**
 * The subcommands, each in its own module, imported only when it runs: `mizzen version` and `mizzen --help`
 * load commander and this file, not the Kubernetes client, the renderer or the controllers. The descriptions
 * here are the ones `--help` lists (a unit test checks that they match the modules' own).
 */
export const SUBCOMMANDS: readonly { name: string; description: string; load: () => Promise<(program: Command) => void> }[] = [
  {
    name: 'operator',
    description: 'Run the mizzen controllers against the cluster of KUBECONFIG (or the in-cluster config)',
    load: async () => (await import('./operator.js')).registerOperator,
  },
  {
    name: 'manifest',
    description: 'Render an IstioOperator to the objects mizzen applies',
    load: async () => (await import('./manifest.js')).registerManifest,
  },
  {
    name: 'iptables',
    description: "Program sidecar traffic redirection with istio-iptables' flags (--dry-run prints the iptables-restore input)",
    load: async () => (await import('./iptables.js')).registerIptables,
  },
  {
    name: 'agent',
    description: 'Run the CNI node agent: install mizzen-cni, serve it on a unix socket, repair pods and restore drifted rules',
    load: async () => (await import('./agent.js')).registerAgent,
  },
  {
    name: 'cni',
    description: 'Inspect what the CNI node agent does to pods',
    load: async () => (await import('./cnirules.js')).registerCni,
  },
  {
    name: 'tag',
    description: 'Revision tags: stable names (istio.io/rev=<tag>) that point at a control plane revision',
    load: async () => (await import('./tag.js')).registerTag,
  },
  {
    name: 'remote-secret',
    description: "Secrets through which an istiod reaches another cluster's API server",
    load: async () => (await import('./remotesecret.js')).registerRemoteSecret,
  },
];

export const VERSION = '0.1.0';

/** The subcommand that argv runs (`mizzen X …` or `mizzen help X`), if it is one of SUBCOMMANDS. */
function chosen(argv: readonly string[]): string | undefined {
  const [first, second] = argv.slice(2);
  const name = first === 'help' ? second : first;
  return SUBCOMMANDS.find((c) => c.name === name)?.name;
}

/**
 * The `mizzen` command line for argv: the subcommand argv names is registered in full (its module imported),
 * the others as name and description only, for the help listing. Without argv, every subcommand is loaded.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('mizzen')
    .description('Day-2 operator for an Istio service mesh')
    .version(VERSION, '--version')
    .showHelpAfterError()
    .exitOverride();
  const only = argv ? chosen(argv) : undefined;
  for (const sub of SUBCOMMANDS) {
    if (!argv || sub.name === only) (await sub.load())(program);
    else program.command(sub.name).description(sub.description);
  }
  program
    .command('version')
    .description('Print the mizzen version')
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError || err instanceof ConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
