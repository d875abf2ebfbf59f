import { AppError } from '@platform/http';
import type { AuthStore } from './auth.ports';

export interface Limit {
  bucket: string;
  max: number;
}

/**
 * Guessing resistance for logins, key validation and device approvals: attempts are counted
 * in identity's database (one service, so every gateway replica shares the count) in fixed
 * windows per account and per client address. An attempt is counted before the secret is
 * checked and taken back when it succeeds, so parallel guesses cannot slip past the limit.
 */
export function createAttemptLimiter(deps: { store: AuthStore; windowS: number; clock?: () => Date }) {
  const now = deps.clock ?? (() => new Date());
  let lastPrune = 0;
  return {
    /** Counts one attempt in every bucket; 429 with Retry-After when any is over its limit. */
    async take(limits: Limit[], message = 'Too many failed attempts'): Promise<void> {
      const at = now();
      let retryAfterS = 0;
      for (const l of limits) {
        const w = await deps.store.countAttempt(l.bucket, at, deps.windowS);
        if (w.failures > l.max) {
          const left = Math.ceil((w.windowStart.getTime() + deps.windowS * 1000 - at.getTime()) / 1000);
          retryAfterS = Math.max(retryAfterS, left, 1);
        }
      }
      if (retryAfterS) throw new AppError('RATE_LIMITED', `${message}; try again in ${retryAfterS} seconds`, undefined, { 'Retry-After': String(retryAfterS) });
    },
    /** The attempt succeeded: it does not count against the address; the account starts afresh. */
    async succeeded(release: string[], clear: string[] = []): Promise<void> {
      for (const b of release) await deps.store.uncountAttempt(b);
      for (const b of clear) await deps.store.clearAttempts(b);
    },
    /** At most once a minute per process: drop ended windows, used-up nonces and old device codes. */
    async pruneNow(): Promise<void> {
      const at = now();
      if (at.getTime() - lastPrune < 60_000) return;
      lastPrune = at.getTime();
      await deps.store.prune(at, deps.windowS);
    },
  };
}
export type AttemptLimiter = ReturnType<typeof createAttemptLimiter>;
