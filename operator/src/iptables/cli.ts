// `mizzen iptables [flags]`: istio-iptables' flags, defaults and environment knobs, so that istio-init users
// keep their configuration. `--dry-run` prints what would be applied and touches nothing.
import type { Family } from './addr.js';
import { buildRuleSet } from './builder.js';
import { ConfigError, type Env, FLAGS, type FlagName, type FlagSpec, type HostFiles, type RawFlags, flagLabel, parseBool, resolveConfig } from './config.js';
import { DryRunExecutor, IptablesCommandError, type IptablesExecutor, type ApplyResult } from './executor.js';
import { SaveParseError } from './parse.js';
import { type IptablesConfig } from './config.js';
import { buildNftRuleSet, renderNft } from './nft.js';
import { type NftApplyResult, NftExecutor } from './nftexec.js';
import { commandLine, ipBatchCommand, planIp } from './restore.js';

export interface CliIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

export interface ParsedArgs {
  readonly flags: RawFlags;
  readonly help: boolean;
}

const SPECS: readonly FlagSpec[] = FLAGS;

function byLong(name: string): FlagSpec | undefined {
  return SPECS.find((f) => f.long === name);
}

function byShort(name: string): FlagSpec | undefined {
  return SPECS.find((f) => f.short === name);
}

class ArgsError extends ConfigError {
  constructor(detail: string) {
    super('arguments', detail);
  }
}

/** Parses one `-x...` group (pflag: bool shorthands combine, `-pVALUE`, `-p=VALUE`, `-p VALUE`). */
function parseShort(arg: string, next: () => string | undefined, set: (spec: FlagSpec, v: string) => void): boolean {
  let rest = arg.slice(1);
  while (rest !== '') {
    const ch = rest[0] as string;
    rest = rest.slice(1);
    if (ch === 'h') return true;
    const spec = byShort(ch);
    if (spec === undefined) throw new ArgsError(`unknown shorthand flag '${ch}' in ${arg}`);
    const inline = rest.startsWith('=') ? rest.slice(1) : rest !== '' && spec.boolean !== true ? rest : undefined;
    if (inline !== undefined) {
      set(spec, inline);
      return false;
    }
    if (spec.boolean === true) {
      set(spec, 'true');
      continue;
    }
    const v = next();
    if (v === undefined) throw new ArgsError(`flag needs an argument: -${ch}`);
    set(spec, v);
  }
  return false;
}

/** `--name`, `--name=VALUE` or `--name VALUE`; a boolean flag never takes the next argument. */
function parseLong(arg: string, next: () => string | undefined, set: (spec: FlagSpec, v: string) => void): void {
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
  const spec = byLong(name);
  if (spec === undefined) throw new ArgsError(`unknown flag: --${name}`);
  const v = eq >= 0 ? arg.slice(eq + 1) : spec.boolean === true ? 'true' : next();
  if (v === undefined) throw new ArgsError(`flag needs an argument: --${name}`);
  set(spec, v);
}

/** istio-iptables' command line (pflag syntax). Unknown flags and stray arguments are errors. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const flags: RawFlags & Record<string, string> = {};
  let help = false;
  const set = (spec: FlagSpec, v: string): void => {
    if (spec.boolean === true) parseBool(v, flagLabel(spec.long as FlagName));
    flags[spec.long] = v;
  };
  let i = 0;
  const next = (): string | undefined => argv[++i];
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new ArgsError(`unexpected argument "${argv[i + 1] ?? ''}"`);
      break;
    }
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg.startsWith('--')) parseLong(arg, next, set);
    else if (arg.startsWith('-') && arg.length > 1) help = parseShort(arg, next, set) || help;
    else throw new ArgsError(`unexpected argument "${arg}"`);
  }
  return { flags, help };
}

export function usage(): string {
  const lines = SPECS.map((f) => {
    const names = `${f.short === undefined ? '    ' : `-${f.short}, `}--${f.long}${f.boolean === true ? '' : ' VALUE'}`;
    const env = f.env === undefined ? '' : ` [$${f.env}]`;
    return `  ${names.padEnd(48)} ${f.help}${env}`;
  });
  return [
    'Usage: mizzen iptables [flags]',
    '',
    'Programs the Istio sidecar traffic capture (istio-iptables compatible) with one iptables-restore per family.',
    '',
    'Flags:',
    ...lines,
    '  -h, --help'.padEnd(50) + ' Show this help',
    '',
    'Environment only: ISTIO_OUTBOUND_OWNER_GROUPS, ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE, ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR,',
    'ISTIO_META_DNS_CAPTURE (default of --redirect-dns), INVALID_DROP (default of --drop-invalid).',
    '',
  ].join('\n');
}

function report(result: ApplyResult): string {
  const out: string[] = [];
  for (const f of result.families) {
    const name: Record<Family, string> = { v4: 'iptables', v6: 'ip6tables' };
    out.push(f.restoreInput === undefined ? `# ${name[f.family]}: already in sync, nothing applied\n` : `# ${name[f.family]}: applied\n${f.restoreInput}`);
    if (f.ipInput !== undefined) out.push(`# ip (${f.family}): applied\n${f.ipInput}`);
  }
  out.push(`# ${result.spawns} processes\n`);
  return out.join('');
}

/** What --native-nftables --dry-run prints: the nft transaction for a fresh netns, then the ip batches. */
export function renderNftDryRun(config: IptablesConfig): string {
  const ruleSet = buildNftRuleSet(config);
  const parts = [`# nft -f -\n${renderNft(ruleSet)}`];
  for (const family of ruleSet.families) {
    const ip = planIp({ families: [], ipCommands: ruleSet.ipCommands }, family);
    if (ip !== undefined) parts.push(`# ${commandLine(ipBatchCommand(family))}\n${ip}`);
  }
  return parts.join('');
}

function reportNft(result: NftApplyResult): string {
  const out = [result.nftInput === undefined ? '# nft: already in sync, nothing applied\n' : `# nft: applied\n${result.nftInput}`];
  for (const ip of result.ipInputs) out.push(`# ip (${ip.family}): applied\n${ip.input}`);
  out.push(`# ${result.spawns} processes\n`);
  return out.join('');
}

/**
 * Runs `mizzen iptables` with the arguments after the subcommand. `env` is the process environment (read by the
 * caller), `executor` the one that touches the netns (ignored with --dry-run), `host` reads /etc/resolv.conf and
 * /etc/group when a value needs them. Returns the exit code; a mistake or a failed command is one line on stderr
 * and exit code 1.
 */
export async function runIptablesCommand(
  argv: readonly string[],
  env: Env,
  io: CliIo,
  executor: IptablesExecutor,
  host: HostFiles = {},
  nftExecutor: NftExecutor = new NftExecutor(),
): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args.help) {
      io.stdout.write(usage());
      return 0;
    }
    const config = resolveConfig(args.flags, env, host);
    if (config.nativeNftables) {
      io.stdout.write(config.dryRun ? renderNftDryRun(config) : reportNft(await nftExecutor.apply(buildNftRuleSet(config))));
      return 0;
    }
    const ruleSet = buildRuleSet(config);
    if (config.dryRun) {
      const dry = new DryRunExecutor();
      await dry.apply(ruleSet);
      io.stdout.write(dry.renderWrites());
      return 0;
    }
    io.stdout.write(report(await executor.apply(ruleSet)));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof IptablesCommandError || err instanceof SaveParseError) {
      io.stderr.write(`Error: ${err.message.split('\n')[0] ?? ''}\n`);
      return 1;
    }
    throw err;
  }
}
