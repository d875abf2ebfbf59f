/** Spec 002 timestamps read "2026-03-01T00:00:00Z": UTC, whole seconds. */
export const isoSeconds = (d: Date | null): string | null => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null);
