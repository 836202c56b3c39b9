// `mizzen cni rules -f POD.yaml`: what the agent does to a pod, without a cluster or a netns. The decision and the
// rule set come from desiredFor, the function the agent's ADD and CHECK use, so the answer is the agent's own.
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { type CniConfig, cniConfigFromData, resolveCniConfig } from '../render/cniconfig.js';
import { InvalidSpecError } from '../render/errors.js';
import { renderNftDryRun, renderRuleSet } from '../iptables/index.js';
import { desiredFor } from './handler.js';

export interface CniRulesInput {
  /** The pod manifest (YAML or JSON), as `kubectl get pod -o yaml` prints it or as written by hand. */
  readonly podText: string;
  /** Where podText came from, for messages. */
  readonly podSource: string;
  /** The agent's settings: values.cni as YAML/JSON, or the istio-cni-config ConfigMap's files. */
  readonly settings?: { readonly values: string } | { readonly data: Readonly<Record<string, string>> };
  readonly settingsSource?: string;
  /** The pod has an IPv6 address (the runtime's prevResult says so on ADD). */
  readonly ipv6: boolean;
}

export interface CniRulesOutput {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

class InputError extends Error {}

function firstPod(text: string, source: string): V1Pod {
  let docs;
  try {
    docs = parseAllDocuments(text);
  } catch (err) {
    throw new InputError(`${source}: not YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    if (d.errors.length > 0) throw new InputError(`${source}: not YAML: ${d.errors[0]?.message.split('\n')[0] ?? ''}`);
    const v: unknown = d.toJS();
    if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
    const obj = v as { kind?: unknown; spec?: { containers?: unknown } };
    if (obj.kind === 'Pod' || (obj.kind === undefined && Array.isArray(obj.spec?.containers))) return obj as V1Pod;
  }
  throw new InputError(`${source}: no Pod in it (a manifest with kind: Pod)`);
}

function yamlValue(text: string, source: string): unknown {
  const docs = parseAllDocuments(text);
  const first = Array.isArray(docs) ? docs[0] : docs;
  if (first === undefined) return {};
  if (first.errors.length > 0) throw new InputError(`${source}: not YAML: ${first.errors[0]?.message.split('\n')[0] ?? ''}`);
  return first.toJS() ?? {};
}

type Values = { cni?: unknown; global?: unknown };

/** values.cni itself, or values (with cni and global keys), or a whole IstioOperator. */
function valuesOf(value: unknown): { cni: unknown; global: unknown } {
  const v = (value ?? {}) as Values & { values?: Values; spec?: { values?: Values } };
  const values = v.spec?.values ?? v.values ?? (v.cni !== undefined || v.global !== undefined ? v : undefined);
  return values === undefined ? { cni: value ?? {}, global: {} } : { cni: values.cni ?? {}, global: values.global ?? {} };
}

function settingsOf(input: CniRulesInput): CniConfig {
  const source = input.settingsSource ?? 'settings';
  try {
    if (input.settings === undefined) return cniConfigFromData({});
    if ('data' in input.settings) return cniConfigFromData(input.settings.data);
    const { cni, global } = valuesOf(yamlValue(input.settings.values, source));
    return resolveCniConfig(cni, global);
  } catch (err) {
    if (err instanceof InvalidSpecError) throw new InputError(`${source}: ${err.message}`);
    throw err;
  }
}

/** The agent's decision for a pod manifest and, when it redirects, the exact rules it programs. */
export function cniRules(input: CniRulesInput): CniRulesOutput {
  let pod: V1Pod;
  let settings: CniConfig;
  try {
    pod = firstPod(input.podText, input.podSource);
    settings = settingsOf(input);
  } catch (err) {
    if (err instanceof InputError) return { exitCode: 1, stdout: '', stderr: `Error: ${err.message}\n` };
    throw err;
  }
  // kubectl's default for a manifest without a namespace.
  const namespace = pod.metadata?.namespace ?? 'default';
  const named: V1Pod = { ...pod, metadata: { ...pod.metadata, namespace } };
  const ref = `${namespace}/${pod.metadata?.name ?? ''}`;
  const ips = input.ipv6 ? ['10.0.0.1/32', 'fd00::1/128'] : ['10.0.0.1/32'];
  const want = desiredFor(named, ips, { excludeNamespaces: settings.excludeNamespaces });
  const d = want.decision;
  if ('error' in want) {
    return { exitCode: 1, stdout: '', stderr: `Error: pod ${ref} has an invalid annotation ${want.error.annotation}: ${want.error.detail}\n` };
  }
  const head = `# pod ${ref}: ${d.redirect ? 'redirect' : 'skip'} (${d.reason}): ${d.message}\n`;
  if (want.ruleSet === undefined || want.config === undefined) return { exitCode: 0, stdout: head, stderr: '' };
  // values.global.nativeNftables: the agent programs the pod with native nftables, from the same config.
  return { exitCode: 0, stdout: head + (settings.nativeNftables ? renderNftDryRun(want.config) : renderRuleSet(want.ruleSet)), stderr: '' };
}
