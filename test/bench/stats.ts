// Small statistics and number formats for the benchmark tables.

/** Quantile with linear interpolation between closest ranks (q in 0..1); NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  const xs = [...values].sort((a, b) => a - b);
  if (xs.length === 0) return Number.NaN;
  const pos = (xs.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo]! + (xs[hi]! - xs[lo]!) * (pos - lo);
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);

export function max(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

/** "840 ms" below 10 s, else "12.3 s". */
export function fmtMs(ms: number): string {
  if (Number.isNaN(ms)) return "n/a";
  return Math.abs(ms) < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Kibibytes (as /usr/bin/time and /proc report them) as MB (10^6 bytes). */
export function fmtKb(kb: number | undefined): string {
  return kb === undefined || Number.isNaN(kb) ? "n/a" : `${((kb * 1024) / 1e6).toFixed(1)} MB`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "n/a";
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

/** "p50 / p90" of a series, in ms. */
export function fmtP50P90(values: readonly number[]): string {
  return `${fmtMs(median(values))} / ${fmtMs(quantile(values, 0.9))}`;
}

export function kbToMb(kb: number): number {
  return (kb * 1024) / 1e6;
}
