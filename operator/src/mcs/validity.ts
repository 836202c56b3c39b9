// Is a ServiceExport valid? An ordered chain of small named checks (DESIGN principle 7); the first that objects
// decides, with a reason from mcs-api v0.5.0 (pkg/apis/v1beta1/serviceexport.go, condition "Valid").
import type { JoinedExport } from './exports.js';
import { ExportReason, keyString, type ServiceKey } from './types.js';

export interface Verdict {
  readonly valid: boolean;
  readonly reason: ExportReason;
  readonly message: string;
}

interface ExportCheck {
  readonly name: string;
  /** A verdict that makes the export invalid, or undefined to pass on to the next check. */
  readonly check: (joined: JoinedExport, key: ServiceKey) => Verdict | undefined;
}

/** The checks in the order they run. */
export const exportChecks: readonly ExportCheck[] = [
  {
    name: 'service exists',
    check: (joined, key) =>
      joined.service
        ? undefined
        : { valid: false, reason: ExportReason.NoService, message: `Service ${keyString(key)} does not exist in cluster "${joined.clusterId}".` },
  },
  {
    name: 'service type can be exported',
    check: (joined, key) =>
      joined.service?.spec?.type === 'ExternalName'
        ? {
            valid: false,
            reason: ExportReason.InvalidServiceType,
            message: `Service ${keyString(key)} in cluster "${joined.clusterId}" has type ExternalName, which cannot be exported; create an ExternalName Service in each cluster instead.`,
          }
        : undefined,
  },
];

/** Runs the chain; the export is valid when no check objects. */
export function checkExport(joined: JoinedExport, key: ServiceKey): Verdict {
  for (const c of exportChecks) {
    const verdict = c.check(joined, key);
    if (verdict) return verdict;
  }
  return { valid: true, reason: ExportReason.Valid, message: `Service ${keyString(key)} is exported from cluster "${joined.clusterId}".` };
}
