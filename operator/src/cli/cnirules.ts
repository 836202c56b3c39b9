import fs from 'node:fs';
import type { Command } from 'commander';
import { cniRules, type CniRulesInput } from '../agent/rules.js';
import { readConfigDir } from '../config/agent.js';
import { ConfigError } from '../config/index.js';
import { UserError } from './errors.js';

function read(file: string, what: string): string {
  try {
    return file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${what} ${file} cannot be read: ${(err as Error).message}`);
  }
}

function settingsFrom(file: string | undefined): Pick<CniRulesInput, 'settings' | 'settingsSource'> {
  if (file === undefined) return {};
  let dir: boolean;
  try {
    dir = fs.statSync(file).isDirectory();
  } catch (err) {
    throw new UserError(`--settings ${file} cannot be read: ${(err as Error).message}`);
  }
  if (!dir) return { settings: { values: read(file, '--settings') }, settingsSource: file };
  try {
    return { settings: { data: readConfigDir(file) }, settingsSource: file };
  } catch (err) {
    if (err instanceof ConfigError) throw new UserError(err.message);
    throw err;
  }
}

/** `mizzen cni rules -f POD.yaml`: the agent's decision for a pod and the exact rules it would program. */
export function registerCni(program: Command): void {
  const cni = program.command('cni').description('Inspect what the CNI node agent does to pods');
  cni
    .command('rules')
    .description("Print the agent's decision for a pod manifest (redirect or skip, and why) and the exact rules ADD programs")
    .requiredOption('-f, --filename <file>', 'the pod manifest, YAML or JSON ("-" for stdin)')
    .option('--ipv6', 'the pod has an IPv6 address (also program ip6tables)', false)
    .option('--settings <file>', "the agent's settings: values.cni as YAML/JSON (or an IstioOperator), or the istio-cni-config ConfigMap mounted as a directory")
    .action((opts: { filename: string; ipv6: boolean; settings?: string }) => {
      const out = cniRules({ podText: read(opts.filename, '-f'), podSource: opts.filename, ipv6: opts.ipv6, ...settingsFrom(opts.settings) });
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      if (out.exitCode !== 0) process.exitCode = out.exitCode;
    });
}
