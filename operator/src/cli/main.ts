import { Command, CommanderError } from 'commander';
import { registerOperator } from './operator.js';
import { registerManifest } from './manifest.js';
import { registerIptables } from './iptables.js';
import { registerAgent } from './agent.js';
import { registerTag } from './tag.js';
import { UserError } from './errors.js';

/** The `mizzen` command line. Each subcommand lives in its own module; user mistakes print one line. */
export function buildProgram(): Command {
  const program = new Command('mizzen')
    .description('Day-2 operator for an Istio service mesh')
    .version(VERSION, '--version')
    .showHelpAfterError()
    .exitOverride();
  registerOperator(program);
  registerManifest(program);
  registerIptables(program);
  registerAgent(program);
  registerTag(program);
  program
    .command('version')
    .description('Print the mizzen version')
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });
  return program;
}

export const VERSION = '0.1.0';

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof UserError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
