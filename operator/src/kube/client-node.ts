// The parts of @kubernetes/client-node the operator runs: KubeConfig (kubeconfig loading, TLS and credentials),
// ListWatch and Watch (the informers). Imported from their own modules, not from the package's index, which loads
// every generated API class. Their modules still import the generated code (KubeConfig's for makeApiClient,
// ListWatch's for the model serializer), so `npm run build` (scripts/build) replaces the compiled form of this file
// with a tree-shaken bundle of these three classes (scripts/bundle-client-node.js): the same client-node code,
// without the API classes nothing here calls. ADR 0006 "Memory" has the figures.
export { KubeConfig } from '@kubernetes/client-node/dist/config.js';
export { ListWatch } from '@kubernetes/client-node/dist/cache.js';
export { Watch } from '@kubernetes/client-node/dist/watch.js';
