/** Spec 002 timestamps read "2026-03-01T00:00:00Z": UTC, whole seconds. */
export const isoSeconds = (d: Date | null): string | null => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null);
/** Spec 001 timestamps are unix seconds ("created_at": 1711000000). */
export const unixSeconds = (d: Date): number => Math.floor(d.getTime() / 1000);
/** Spec 002 agent timestamps read "2026-03-19T10:00:00+00:00": UTC, whole seconds, numeric offset. */
export const isoOffset = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, '+00:00');
