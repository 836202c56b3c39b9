// The pure Multi-Cluster Services core (KEP-1645, sigs.k8s.io/mcs-api v0.5.0): order exports, validate them,
// merge ports and global properties, detect conflicts, derive ServiceImports, derived Services and EndpointSlices,
// and plan the local cluster's whole MCS state. No client, clock, environment or filesystem: data in, data out.
export * from './types.js';
export { exportsByService, compareExports, timeMillis, type ClusterView, type JoinedExport, type ServiceExports } from './exports.js';
export { checkExport, exportChecks, type Verdict } from './validity.js';
export {
  mergeService,
  mergePorts,
  intersectFamilies,
  importTypeOf,
  fieldRules,
  type ConflictDetail,
  type ExportedService,
  type MergedService,
  type MergeResult,
} from './merge.js';
export { derivedServiceName, endpointSliceName, shortHash, base32Hex } from './names.js';
export { desiredServiceImport, desiredDerivedService, importIPs, importOwnerReference, managedLabels, type ServiceImportOptions } from './serviceimport.js';
export { desiredEndpointSlices, sourceSlicesFor, isImportedSlice, isReady, type SliceTarget } from './endpointslices.js';
export {
  plan,
  resolveClusters,
  exportStatus,
  clustersSyncedCondition,
  sameJson,
  type ClusterReadState,
  type ClusterReport,
  type ExportStatus,
  type ImportStatus,
  type McsPlan,
  type ResolvedClusters,
  type StatusUpdate,
} from './plan.js';
