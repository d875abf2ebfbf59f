import { randomInt } from 'node:crypto';
import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { AuthStore } from './auth.ports';
import type { AttemptLimiter } from './attempts';
import type { TokenIssuer } from './tokens';
import { randomBase62, SecretHasher } from './key-material';

/** RFC 8628 §6.1: consonants only, so a code never spells a word and B/8, O/0 are not confused. */
const USER_CODE_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';
export const USER_CODE = /^[A-Z]{4}-[0-9]{4}$/;

export const newUserCode = () =>
  `${Array.from({ length: 4 }, () => USER_CODE_LETTERS[randomInt(USER_CODE_LETTERS.length)]).join('')}-${String(randomInt(10_000)).padStart(4, '0')}`;

/** RFC 8628 §3.5 error codes a poll answers while there is no token. */
export type PollError = 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied' | 'invalid_grant';
export type PollResult = { token: string } | { error: PollError; error_description: string; interval?: number };

export interface DeviceServiceDeps {
  store: AuthStore;
  tokens: TokenIssuer;
  limiter: AttemptLimiter;
  hasher: SecretHasher;
  ttlS: number;
  intervalS: number;
  verificationUrl: string;
  maxFailuresPerAccount: number;
  clock?: () => Date;
}

/**
 * Spec 001 device flow (used by the CLI), answering like the OAuth device grant (RFC 8628).
 * Device and user codes are stored only as keyed hashes; the token is handed out once.
 */
export function createDeviceService(deps: DeviceServiceDeps) {
  const { store, hasher } = deps;
  const now = deps.clock ?? (() => new Date());

  async function decide(caller: Principal, userCode: string, decision: 'approved' | 'denied') {
    // Only an interactive sign-in may hand a device a token, not an API key.
    if (caller.kind !== 'jwt') throw new AppError('FORBIDDEN', 'Approving or denying a device needs a signed-in user token (POST /auth/login or /auth/wallet)');
    const bucket = `device-decide:${caller.owner_id}`;
    await deps.limiter.take([{ bucket, max: deps.maxFailuresPerAccount }], 'Too many unknown user codes');
    const at = now();
    const device = await store.deviceByUserCode(hasher.hash(userCode));
    if (!device || device.expiresAt <= at) throw new AppError('NOT_FOUND', 'Unknown or expired user code');
    if (device.status !== 'pending' || !(await store.decideDevice(device.id, decision, caller.owner_id, at))) {
      throw new AppError('CONFLICT', 'This user code was already approved or denied');
    }
    await deps.limiter.succeeded([bucket]);
    return { user_code: userCode, status: decision };
  }

  return {
    async start() {
      await deps.limiter.pruneNow();
      const expiresAt = new Date(now().getTime() + deps.ttlS * 1000);
      // A user code collides with a live one about once in 10^9; draw again then.
      for (let attempt = 0; attempt < 5; attempt++) {
        const deviceCode = randomBase62(40);
        const userCode = newUserCode();
        if (await store.insertDevice({ deviceCodeHash: hasher.hash(deviceCode), userCodeHash: hasher.hash(userCode), intervalS: deps.intervalS, expiresAt })) {
          return { device_code: deviceCode, user_code: userCode, verification_url: deps.verificationUrl, expires_in: deps.ttlS, interval: deps.intervalS };
        }
      }
      throw new AppError('UNAVAILABLE', 'Could not allocate a device code; try again');
    },

    /**
     * RFC 8628 §3.5: pending, slow_down (polled again sooner than `interval` seconds after the
     * last poll), expired_token, access_denied, then the token exactly once; invalid_grant for
     * a code that is unknown or whose token was already handed out.
     */
    async poll(deviceCode: string): Promise<PollResult> {
      const device = await store.deviceByDeviceCode(hasher.hash(deviceCode));
      if (!device) return { error: 'invalid_grant', error_description: 'Unknown device_code; start again with POST /auth/device' };
      if (device.status === 'consumed') return { error: 'invalid_grant', error_description: 'The token for this device_code was already issued' };
      const at = now();
      if (device.expiresAt <= at) return { error: 'expired_token', error_description: 'The device_code expired; start again with POST /auth/device' };
      if (device.status === 'denied') return { error: 'access_denied', error_description: 'The user denied this device' };
      const tooSoon = device.lastPolledAt && at.getTime() - device.lastPolledAt.getTime() < device.intervalS * 1000;
      await store.touchDevicePoll(device.id, at);
      if (tooSoon) return { error: 'slow_down', error_description: `Poll at most every ${device.intervalS} seconds`, interval: device.intervalS };
      if (device.status === 'pending') return { error: 'authorization_pending', error_description: 'The user has not approved this device yet' };
      if (!device.userId || !(await store.consumeDevice(device.id))) {
        return { error: 'invalid_grant', error_description: 'The token for this device_code was already issued' };
      }
      return { token: await deps.tokens.issue(device.userId) };
    },

    approve: (caller: Principal, userCode: string) => decide(caller, userCode, 'approved'),
    deny: (caller: Principal, userCode: string) => decide(caller, userCode, 'denied'),
  };
}
export type DeviceService = ReturnType<typeof createDeviceService>;
