// How much work the fault suites do. The default is what `scripts/test` runs in CI (a 2-core machine); the soak
// mode (`scripts/test --long`, or MIZZEN_RELIABILITY_LONG=1) runs the full scale and more iterations. A
// suite's own variable (e.g. MIZZEN_FAULT_RESTARTS) overrides both.

/** Whether the soak mode is on. */
export const LONG = process.env.MIZZEN_RELIABILITY_LONG === '1';

/** `env`'s value if set, else `long` in the soak mode, else `normal`. */
export function scale(env: string, normal: number, long: number): number {
  const v = process.env[env];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${env}=${v} is not a positive number`);
    return n;
  }
  return LONG ? long : normal;
}
