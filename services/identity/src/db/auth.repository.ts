import type { Db } from './client';
import type { AuthStore, DeviceRecord, DeviceStatus } from '../domain/auth.ports';
import type { DeviceAuthorization } from '../generated/prisma/client';

const USER = { id: true, email: true, passwordHash: true, walletAddress: true } as const;
const toDevice = (d: DeviceAuthorization): DeviceRecord => ({
  id: d.id,
  status: d.status as DeviceStatus,
  userId: d.userId,
  intervalS: d.intervalS,
  expiresAt: d.expiresAt,
  lastPolledAt: d.lastPolledAt,
});

/** Users, SIWE nonces, device authorizations and failed-attempt windows (spec 001 auth). */
export function authRepository(db: Db): AuthStore {
  return {
    async createEmailUser(email, passwordHash) {
      // ON CONFLICT DO NOTHING: an existing email is left exactly as it was.
      const n = await db.$executeRawUnsafe(
        `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, now(), now()) ON CONFLICT (email) DO NOTHING`,
        email,
        passwordHash,
      );
      return n === 1;
    },
    findUserByEmail: (email) => db.user.findUnique({ where: { email }, select: USER }),
    async walletUser(address) {
      await db.$executeRawUnsafe(
        `INSERT INTO users (id, wallet_address, created_at, updated_at) VALUES (gen_random_uuid(), $1, now(), now()) ON CONFLICT (wallet_address) DO NOTHING`,
        address,
      );
      return db.user.findUniqueOrThrow({ where: { walletAddress: address }, select: USER });
    },

    async insertNonce(nonce, expiresAt) {
      await db.siweNonce.create({ data: { nonce, expiresAt } });
    },
    async consumeNonce(nonce, now) {
      const { count } = await db.siweNonce.deleteMany({ where: { nonce, expiresAt: { gt: now } } });
      return count === 1;
    },

    async insertDevice(d) {
      const n = await db.$executeRawUnsafe(
        `INSERT INTO device_authorizations (id, device_code_hash, user_code_hash, status, interval_s, expires_at, created_at)
         VALUES (gen_random_uuid(), $1, $2, 'pending', $3, $4, now()) ON CONFLICT DO NOTHING`,
        d.deviceCodeHash,
        d.userCodeHash,
        d.intervalS,
        d.expiresAt,
      );
      return n === 1;
    },
    async deviceByDeviceCode(deviceCodeHash) {
      const d = await db.deviceAuthorization.findUnique({ where: { deviceCodeHash } });
      return d && toDevice(d);
    },
    async deviceByUserCode(userCodeHash) {
      const d = await db.deviceAuthorization.findUnique({ where: { userCodeHash } });
      return d && toDevice(d);
    },
    async touchDevicePoll(id, at) {
      await db.deviceAuthorization.update({ where: { id }, data: { lastPolledAt: at } });
    },
    async decideDevice(id, decision, userId, at) {
      const { count } = await db.deviceAuthorization.updateMany({
        where: { id, status: 'pending', expiresAt: { gt: at } },
        data: { status: decision, userId, decidedAt: at },
      });
      return count === 1;
    },
    async consumeDevice(id) {
      const { count } = await db.deviceAuthorization.updateMany({ where: { id, status: 'approved' }, data: { status: 'consumed' } });
      return count === 1;
    },

    async countAttempt(bucket, now, windowS) {
      const windowEndedBefore = new Date(now.getTime() - windowS * 1000);
      const rows = await db.$queryRawUnsafe<{ window_start: Date; failures: number }[]>(
        `INSERT INTO auth_failures AS f (bucket, window_start, failures) VALUES ($1, $2, 1)
         ON CONFLICT (bucket) DO UPDATE SET
           window_start = CASE WHEN f.window_start <= $3 THEN EXCLUDED.window_start ELSE f.window_start END,
           failures     = CASE WHEN f.window_start <= $3 THEN 1 ELSE f.failures + 1 END
         RETURNING window_start, failures`,
        bucket,
        now,
        windowEndedBefore,
      );
      return { windowStart: rows[0].window_start, failures: Number(rows[0].failures) };
    },
    async uncountAttempt(bucket) {
      await db.$executeRawUnsafe(`UPDATE auth_failures SET failures = failures - 1 WHERE bucket = $1 AND failures > 0`, bucket);
    },
    async clearAttempts(bucket) {
      await db.authFailure.deleteMany({ where: { bucket } });
    },

    listUserKeys: (ownerId, page) =>
      db.apiKey.findMany({
        where: { ownerId, family: 'ig' },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        take: page.limit,
        skip: page.offset,
        select: { id: true, name: true, prefix: true, createdAt: true, revokedAt: true },
      }),

    async prune(now, windowS) {
      // Device rows are kept an hour past expiry so a late poll still hears "expired_token".
      await db.siweNonce.deleteMany({ where: { expiresAt: { lte: now } } });
      await db.deviceAuthorization.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 3_600_000) } } });
      await db.authFailure.deleteMany({ where: { windowStart: { lte: new Date(now.getTime() - windowS * 1000) } } });
    },
  };
}
