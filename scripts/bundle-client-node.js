// Part of `npm run build` (scripts/build), after tsc: replaces dist/js/kube/client-node.js, which tsc compiled to
// re-exports of client-node's own modules, with one tree-shaken bundle of those modules (KubeConfig, ListWatch,
// Watch). Their modules import the package's generated index (every API class, for KubeConfig.makeApiClient) and
// models (for ListWatch's serializer); the bundle keeps the models the serializer refers to and drops the API
// classes nothing in it calls: the same client-node code, about 30 MiB less resident (ADR 0006 "Memory").
// client-node's dependencies stay imports, resolved from node_modules at run time as before. The result is loaded
// once here, so a bundle that cannot load fails the build, not the operator.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/@kubernetes/client-node/package.json'), 'utf8'));
const out = path.join(root, 'dist/js/kube/client-node.js');

await build({
  entryPoints: [path.join(root, 'operator/src/kube/client-node.ts')],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: Object.keys(pkg.dependencies ?? {}),
  legalComments: 'inline',
  logLevel: 'warning',
  banner: { js: `// @kubernetes/client-node ${pkg.version}: KubeConfig, ListWatch and Watch, bundled by scripts/bundle-client-node.js.` },
});
// The point of the bundle: a client-node release whose generated API classes can no longer be dropped would
// silently bring back their memory, so say so.
if (/\bclass \w+V\d\w*Api\b/.test(fs.readFileSync(out, 'utf8'))) {
  throw new Error(`${out}: client-node's generated API classes are still in the bundle (tree shaking failed)`);
}
const mod = await import(pathToFileURL(out).href);
for (const name of ['KubeConfig', 'ListWatch', 'Watch']) {
  if (typeof mod[name] !== 'function') throw new Error(`${out}: ${name} is missing from the bundle`);
}
