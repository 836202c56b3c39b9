// What the real-kernel tests (kernel, nftkernel, netlinkkernel) share: running a command, and the rule sets they
// apply — every golden case, and what the agent programs for each pod case with a golden (mizzen cni rules).
import { execFileSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { type HostFiles, type RuleSet, buildRuleSet, parseArgs, resolveConfig } from '../../src/iptables/index.js';
import { desiredFor } from '../../src/agent/handler.js';
import { POD_CASES } from '../agent/podcases.js';
import { CASES } from './cases.js';

/** Runs a command; its stdout, or a thrown error naming its stderr. */
export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

export const ruleSetOf = (argv: readonly string[], env: Record<string, string> = {}, host: HostFiles = {}): RuleSet => buildRuleSet(resolveConfig(parseArgs(argv).flags, env, host));

function podRuleSet(yaml: string, ipv6: boolean): RuleSet {
  const want = desiredFor(parseYaml(yaml) as V1Pod, ipv6 ? ['10.0.0.1/32', 'fd00::1/128'] : ['10.0.0.1/32'], { excludeNamespaces: [] });
  if (!('ruleSet' in want) || want.ruleSet === undefined) throw new Error('the pod is not redirected');
  return want.ruleSet;
}

/** Every golden case's rule set, then the agent's for each pod case with a golden (e.g. uid/gid from securityContext). */
export const KERNEL_CASES: readonly { readonly name: string; readonly ruleSet: () => RuleSet }[] = [
  ...CASES.map((c) => ({ name: c.name, ruleSet: () => ruleSetOf(c.argv, c.env, c.host) })),
  ...POD_CASES.filter((c) => c.golden !== undefined).map((c) => ({ name: `pod: ${c.name}`, ruleSet: () => podRuleSet(c.yaml, c.ipv6 ?? false) })),
];
