// Test helpers for the renderer: load IstioOperator fixtures and compare against golden files.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse } from 'yaml';
import type { IstioOperator, KubernetesObject } from '../../src/render/index.js';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), 'testdata');

/** Golden files are rewritten instead of compared when UPDATE_GOLDEN=1. */
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export function loadIop(name: string): IstioOperator {
  return parse(readFileSync(join(TESTDATA, `${name}.iop.yaml`), 'utf8')) as IstioOperator;
}

export function expectGolden(name: string, actual: string): void {
  const file = join(TESTDATA, `${name}.golden.yaml`);
  if (UPDATE_GOLDEN) {
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) expect.fail(`golden file ${file} is missing; run the tests with UPDATE_GOLDEN=1 to create it`);
  const expected = readFileSync(file, 'utf8');
  // Compare line arrays first: chai shows a readable diff of the first lines that differ.
  if (actual !== expected) expect(actual.split('\n')).to.deep.equal(expected.split('\n'), `${name}.golden.yaml differs (UPDATE_GOLDEN=1 refreshes it)`);
}

/** An IstioOperator built in a test, from a spec. */
export function iopWith(spec: IstioOperator['spec'], name = 'test', namespace = 'istio-system'): IstioOperator {
  return { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name, namespace }, spec };
}

export function find(objects: readonly KubernetesObject[], kind: string, name: string, namespace?: string): KubernetesObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
}

export function mustFind(objects: readonly KubernetesObject[], kind: string, name: string, namespace?: string): KubernetesObject {
  const obj = find(objects, kind, name, namespace);
  if (!obj) expect.fail(`no ${kind} ${namespace ? `${namespace}/` : ''}${name} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return obj;
}

/** A value at a dotted path of plain JSON (numbers index arrays), for assertions. */
export function at(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** The pod spec's first container with the given name. */
export function container(workload: KubernetesObject, name: string): Record<string, unknown> {
  const containers = at(workload, 'spec.template.spec.containers') as Record<string, unknown>[];
  const c = containers.find((x) => x.name === name);
  if (!c) expect.fail(`${workload.kind} ${workload.metadata.name} has no container ${name}`);
  return c;
}
