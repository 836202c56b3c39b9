/** The q-quantile (0..1) of the samples, nearest rank rounded down; NaN for none. The samples are not changed. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
}
