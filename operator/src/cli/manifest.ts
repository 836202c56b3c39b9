import fs from 'node:fs';
import type { Command } from 'commander';
import fastJsonPatch from 'fast-json-patch';
import type { KubernetesObject } from '@kubernetes/client-node';
import { validate, type IstioOperator } from '../api/index.js';
import { applySet, InvalidSpecError, ownerOf, ownerSelector, render, toJson, toYaml, RENDERED_KINDS } from '../render/index.js';
import { KubeClient } from '../kube/client.js';
import { R } from '../kube/resources.js';
import { appliedByUs, describeObject, findOrphans, stripServerFields, withAppliedHash } from '../kube/apply.js';
import { errorMessage } from '../kube/errors.js';
import { UserError } from './errors.js';
import { parseYamlDocuments } from './yamlfile.js';

interface GenerateFlags {
  filename: string;
  set: string[];
  output: string;
}

/** Reads an IstioOperator from a file ("-" is stdin), applies --set assignments and validates it. */
export function loadIstioOperator(file: string, sets: readonly string[]): IstioOperator {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  const docs = parseYamlDocuments(text, file === '-' ? '<stdin>' : file).filter((d) => d && typeof d === 'object');
  const found = docs.find((d) => (d as { kind?: string }).kind === 'IstioOperator') as IstioOperator | undefined;
  if (!found) throw new UserError(`${file} holds no IstioOperator`);
  let iop = found;
  try {
    for (const s of sets) iop = { ...iop, spec: applySet(iop.spec ?? {}, s.startsWith('spec.') ? s.slice(5) : s) };
  } catch (err) {
    throw new UserError(errorMessage(err));
  }
  const v = validate(iop);
  if (!v.valid) throw new UserError(`${file}: ${v.errors.join('; ')}`);
  return iop;
}

function renderOrExplain(iop: IstioOperator): KubernetesObject[] {
  try {
    return render(iop).objects;
  } catch (err) {
    if (err instanceof InvalidSpecError) throw new UserError(err.message);
    throw err;
  }
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('Render an IstioOperator to the objects mizzen applies');
  manifest
    .command('generate')
    .description('Print exactly what the controller would apply for an IstioOperator file')
    .requiredOption('-f, --filename <file>', 'IstioOperator YAML file ("-" for stdin)')
    .option('--set <path=value>', 'override a spec field, e.g. values.cni.cniBinDir=/opt/cni/bin (repeatable)', collect, [])
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action((flags: GenerateFlags) => {
      if (flags.output !== 'yaml' && flags.output !== 'json') throw new UserError(`--output must be yaml or json, got "${flags.output}"`);
      const objects = renderOrExplain(loadIstioOperator(flags.filename, flags.set));
      process.stdout.write(flags.output === 'json' ? toJson(objects as never) : toYaml(objects as never));
    });
  manifest
    .command('diff')
    .description('Show what applying an IstioOperator file would change in the live cluster (server-side dry run)')
    .requiredOption('-f, --filename <file>', 'IstioOperator YAML file ("-" for stdin)')
    .option('--set <path=value>', 'override a spec field (repeatable)', collect, [])
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .action(async (flags: GenerateFlags & { kubeconfig?: string }) => {
      const fromFile = loadIstioOperator(flags.filename, flags.set);
      renderOrExplain(fromFile);
      const client = await KubeClient.create(KubeClient.loadConfig(flags.kubeconfig));
      try {
        // As the controller renders it: the live IstioOperator's uid makes it the owner of its namespace's objects.
        const owner = ownerOf(fromFile);
        const uid = (await client.get(R.istioOperator, owner.name, owner.namespace))?.metadata?.uid;
        const iop = uid ? { ...fromFile, metadata: { ...fromFile.metadata, name: owner.name, namespace: owner.namespace, uid } } : fromFile;
        const objects = renderOrExplain(iop);
        const changes = await diffLive(client, iop, objects);
        process.stdout.write(changes.length ? `${changes.join('\n')}\n` : 'No changes.\n');
        if (changes.length) process.exitCode = 2;
      } finally {
        client.close();
      }
    });
}

const volatile = ['/metadata/resourceVersion', '/metadata/generation', '/metadata/managedFields', '/metadata/creationTimestamp', '/metadata/uid', '/status'];

/** One line per created or pruned object, and one per changed field (JSON Pointer), from a server-side dry run. */
export async function diffLive(client: KubeClient, iop: IstioOperator, objects: readonly KubernetesObject[]): Promise<string[]> {
  const out: string[] = [];
  for (const obj of objects) {
    const t = await client.resourceFor(obj.apiVersion ?? '', obj.kind ?? '');
    const live = await client.get(t, obj.metadata?.name ?? '', obj.metadata?.namespace);
    if (!live) {
      out.push(`+ ${describeObject(obj)}`);
      continue;
    }
    // Stamped as the operator applies it, so its content hash is no difference.
    const after = await client.apply(stripServerFields(withAppliedHash(obj).obj), { dryRun: true });
    const ops = fastJsonPatch.compare(live, after).filter((op) => !volatile.some((p) => op.path === p || op.path.startsWith(`${p}/`)));
    for (const op of ops) out.push(`~ ${describeObject(obj)} ${op.op} ${op.path}${'value' in op ? ` = ${JSON.stringify(op.value)}` : ''}`);
  }
  const orphans = await findOrphans(client, objects, { types: RENDERED_KINDS, labelSelector: ownerSelector(iop) });
  for (const o of orphans.filter((x) => appliedByUs(x))) out.push(`- ${describeObject(o)}`);
  return out;
}
