import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from '@platform/telemetry';
import type { WalletsClient } from '../clients/wallets.client';

/**
 * Balance leases (README "Balance leases"). Wallets moves a slice of a buyer's prepaid balance
 * into escrow once (`POST /internal/leases`); every replica spends it call by call with one
 * atomic Redis script, so a paid call waits for neither a wallets debit nor a pending record.
 * A call's record is written once, completed, with the lease id (`lease_charge = 'pending'`);
 * the settler posts those charges to wallets against the lease in batches, behind the requests.
 *
 * Why this cannot overspend: the escrow is real money moved in wallets' ledger, and the Redis
 * counter never lets the calls of all replicas together take more than it. Why a crash loses
 * nothing: the counter lives in Redis, not in a process; a call whose process dies before its
 * record commits was never recorded, so it is never charged, and its slice stays in escrow
 * until the lease closes and wallets gives the rest back.
 */

/** Takes `price` from the buyer's lease if it has one, still spendable, with enough left; answers its id. */
const SPEND = `
local v = redis.call('HMGET', KEYS[1], 'id', 'until')
if not v[1] or tonumber(v[2]) <= tonumber(ARGV[2]) then return false end
local left = redis.call('HINCRBY', KEYS[1], 'left', -tonumber(ARGV[1]))
if left < 0 then
  redis.call('HINCRBY', KEYS[1], 'left', tonumber(ARGV[1]))
  return false
end
return v[1]`;

/** Gives a call's price back to the lease it came from, if that lease is still the buyer's current one. */
const GIVE_BACK = `
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return redis.call('HINCRBY', KEYS[1], 'left', tonumber(ARGV[2])) end
return false`;

/** Makes a new lease the buyer's current one, only if the current one is still the one the opener saw ('' = none). */
const INSTALL = `
local cur = redis.call('HGET', KEYS[1], 'id') or ''
if cur ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'left', ARGV[3], 'until', ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1`;

/** Drops the buyer's current lease if it is this one (its row says it can take no more charges). */
const FORGET = `if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export interface LeaseSettings {
  /** A lease is worth this many calls at the price of the call that opens it (less if the balance is smaller). */
  calls: number;
  /** How long calls may spend a lease; after that a new one is opened. */
  ttlMs: number;
  /** After how long past its spending window no live call can still record against a lease (PENDING_STALE_MS). */
  staleAfterMs: number;
  /** Redis key prefix. */
  prefix?: string;
}

export interface LeaseCharge {
  usageId: string;
  leaseId: string;
  buyerId: string;
  amountMicros: bigint;
  providerId: string;
  serviceId: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function leaseBook(deps: { redis: Redis; pool: Pool; wallets: WalletsClient; logger: Logger; settings: LeaseSettings; now?: () => number }) {
  const { redis, pool, wallets, logger, settings } = deps;
  // EVALSHA with a fallback to EVAL (ioredis' defineCommand): the scripts are not resent per call.
  for (const [name, lua] of Object.entries({ leaseSpend: SPEND, leaseGiveBack: GIVE_BACK, leaseInstall: INSTALL, leaseForget: FORGET, leaseUnlock: UNLOCK })) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  }
  const script = (name: string, key: string, ...args: string[]): Promise<unknown> => (redis as unknown as Record<string, (...a: string[]) => Promise<unknown>>)[name](key, ...args);
  const now = deps.now ?? Date.now;
  const prefix = settings.prefix ?? 'acf:lease:';
  const keyOf = (buyerId: string) => `${prefix}${buyerId}`;
  const lockOf = (buyerId: string) => `${prefix}lock:${buyerId}`;

  /** Buyers whose balance could not fund a lease lately: their calls take the direct debit path for a second. */
  const unfundable = new Map<string, number>();
  const opening = new Map<string, Promise<'retry' | 'none'>>();
  let redisDownLogged = 0;

  async function spendOnce(buyerId: string, priceMicros: bigint): Promise<string | null> {
    return (await script('leaseSpend', keyOf(buyerId), priceMicros.toString(), String(now()))) as string | null;
  }

  /** Opens a lease for the buyer (one opener at a time across replicas): 'retry' to spend again, 'none' when the balance cannot fund one. */
  async function open(buyerId: string, priceMicros: bigint): Promise<'retry' | 'none'> {
    const token = randomUUID();
    const locked = await redis.set(lockOf(buyerId), token, 'PX', 10_000, 'NX');
    if (!locked) {
      // Another replica (or call) is opening one: spend again in a moment.
      await sleep(5);
      return 'retry';
    }
    try {
      const seen = (await redis.hget(keyOf(buyerId), 'id')) ?? '';
      // Someone installed a lease between our failed spend and the lock: spend that one.
      if (seen) {
        const [left, until] = await redis.hmget(keyOf(buyerId), 'left', 'until');
        if (Number(until) > now() && BigInt(left ?? '0') >= priceMicros) return 'retry';
      }
      const id = randomUUID();
      const until = now() + settings.ttlMs;
      // The row first: a crash after wallets granted it still leaves a lease the sweeper closes.
      await pool.query(`INSERT INTO "leases" ("id", "buyer_id", "spend_until") VALUES ($1, $2, $3)`, [id, buyerId, new Date(until)]);
      const g = await wallets.openLease({ leaseId: id, buyerId, amountMicros: priceMicros * BigInt(settings.calls), minMicros: priceMicros });
      if (g.kind === 'insufficient') {
        await pool.query(`UPDATE "leases" SET "state" = 'closed', "released_micros" = 0, "closed_at" = now() WHERE "id" = $1`, [id]);
        if (unfundable.size >= 10_000) unfundable.clear();
        unfundable.set(buyerId, now() + 1_000);
        return 'none';
      }
      await pool.query(`UPDATE "leases" SET "granted_micros" = $2 WHERE "id" = $1`, [id, g.grantedMicros.toString()]);
      const installed = await script('leaseInstall', keyOf(buyerId), seen, id, g.grantedMicros.toString(), String(until), String(settings.ttlMs + 60_000));
      // Lost a race with another opener: nobody spends this one; it closes after the usual wait.
      if (installed !== 1) await pool.query(`UPDATE "leases" SET "spend_until" = now() WHERE "id" = $1`, [id]);
      return 'retry';
    } finally {
      await script('leaseUnlock', lockOf(buyerId), token).catch(() => undefined);
    }
  }

  /** The settler's pass, one at a time per process; kicked after completions, and on a timer. */
  let settling: Promise<number> | null = null;
  let again = false;

  /**
   * Posts pending lease charges to wallets in one batch: each against its lease, and a charge
   * a lease refuses (its Redis counter was lost and recreated higher) from the buyer's balance
   * directly; only a charge that cannot be taken either way is marked `short` and logged.
   * Rows are locked (SKIP LOCKED) while wallets answers, so replicas never post the same ones.
   */
  async function settleBatch(limit: number, leaseId?: string): Promise<number> {
    const client: PoolClient = await pool.connect();
    try {
      await client.query('BEGIN');
      const rows = (
        await client.query<{ id: string; buyer_id: string; provider_id: string; service_id: string; amount_micros: string; lease_id: string }>(
          `SELECT "id"::text, "buyer_id", "provider_id", "service_id", "amount_micros"::text, "lease_id"::text
             FROM "usage_records" WHERE "lease_charge" = 'pending' ${leaseId ? `AND "lease_id" = $2` : ''}
            LIMIT $1 FOR UPDATE SKIP LOCKED`,
          leaseId ? [limit, leaseId] : [limit],
        )
      ).rows;
      if (!rows.length) {
        await client.query('COMMIT');
        return 0;
      }
      const charges: LeaseCharge[] = rows.map((r) => ({ usageId: r.id, leaseId: r.lease_id, buyerId: r.buyer_id, amountMicros: BigInt(r.amount_micros), providerId: r.provider_id, serviceId: r.service_id }));
      const answers = await wallets.chargeLeases(charges);
      const states = answers.map((a) => (a.kind === 'charged' ? 'done' : 'short'));
      const refused = charges.filter((_, i) => answers[i].kind === 'refused');
      if (refused.length) {
        const direct = await wallets.chargeLeases(refused.map((c) => ({ ...c, leaseId: null })));
        let k = 0;
        answers.forEach((a, i) => {
          if (a.kind !== 'refused') return;
          const d = direct[k++];
          if (d.kind === 'charged') {
            states[i] = 'done';
            logger.warn({ usage_id: charges[i].usageId, lease_id: charges[i].leaseId, reason: a.reason }, 'a lease refused a charge; taken from the balance instead');
          } else {
            logger.error({ usage_id: charges[i].usageId, lease_id: charges[i].leaseId, reason: a.reason, direct: d.reason }, 'a recorded call could not be charged');
          }
        });
      }
      await client.query(`UPDATE "usage_records" u SET "lease_charge" = v."s" FROM unnest($1::uuid[], $2::text[]) AS v("id", "s") WHERE u."id" = v."id"`, [
        charges.map((c) => c.usageId),
        states,
      ]);
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  function settle(): Promise<number> {
    if (settling) {
      again = true;
      return settling;
    }
    settling = (async () => {
      let total = 0;
      do {
        again = false;
        let n: number;
        do {
          n = await settleBatch(500);
          total += n;
        } while (n === 500);
      } while (again);
      return total;
    })().finally(() => {
      settling = null;
    });
    return settling;
  }

  return {
    /**
     * Takes the call's price from the buyer's lease (opening one when there is none or it ran
     * out); answers the lease id, or null when the call must take the direct debit path (the
     * balance cannot fund a lease, Redis is unreachable, or another opener took too long).
     */
    async spend(buyerId: string, priceMicros: bigint): Promise<string | null> {
      try {
        for (let attempt = 0; attempt < 100; attempt++) {
          const id = await spendOnce(buyerId, priceMicros);
          if (id !== null) return id;
          // The balance could not fund a lease a moment ago: the direct debit answers (402, or the money came in).
          const barred = unfundable.get(buyerId);
          if (barred !== undefined) {
            if (barred > now()) return null;
            unfundable.delete(buyerId);
          }
          let o = opening.get(buyerId);
          if (!o) {
            o = open(buyerId, priceMicros).finally(() => opening.delete(buyerId));
            opening.set(buyerId, o);
          }
          if ((await o) === 'none') return null;
        }
        return null;
      } catch (err) {
        if (now() - redisDownLogged > 10_000) {
          redisDownLogged = now();
          logger.warn({ err: String(err) }, 'balance leases unavailable; paid calls debit wallets directly');
        }
        return null;
      }
    },

    /** A leased call that was not served gives its price back (nothing was ever charged for it). */
    async giveBack(buyerId: string, leaseId: string, priceMicros: bigint): Promise<void> {
      await script('leaseGiveBack', keyOf(buyerId), leaseId, priceMicros.toString()).catch((err) => logger.warn({ err: String(err), lease_id: leaseId }, 'cannot give a price back to its lease'));
    },

    /**
     * A completion found the lease not open (closed under a very late call, or a lease Redis
     * remembers that this database never knew): calls stop spending it; the next opens a new one.
     */
    async forget(buyerId: string, leaseId: string): Promise<void> {
      await script('leaseForget', keyOf(buyerId), leaseId).catch(() => undefined);
    },

    /** Posts pending charges now (called after completions commit; passes run one at a time). */
    kick(): void {
      settle().catch((err) => logger.warn({ err: String(err) }, 'lease charges not posted yet; the next pass retries'));
    },

    settle,

    /**
     * Closes leases no live call can still record against (their spending window ended more
     * than staleAfterMs ago): `closing` first — the completion statement only joins a record to
     * an `open` lease, under a share lock, so nothing can join after — then every charge of it
     * is posted, then wallets gives the rest back.
     */
    async closeDue(limit = 20): Promise<number> {
      const due = (
        await pool.query<{ id: string }>(
          `UPDATE "leases" SET "state" = 'closing'
            WHERE "id" IN (SELECT "id" FROM "leases" WHERE "state" IN ('open', 'closing') AND "spend_until" < now() - make_interval(secs => $1::double precision / 1000) LIMIT $2)
            RETURNING "id"::text`,
          [settings.staleAfterMs, limit],
        )
      ).rows;
      let closed = 0;
      for (const { id } of due) {
        try {
          while ((await settleBatch(500, id)) > 0);
          const left = await pool.query(`SELECT 1 FROM "usage_records" WHERE "lease_id" = $1 AND "lease_charge" = 'pending' LIMIT 1`, [id]);
          if (left.rowCount) continue; // another replica holds them; next sweep
          const r = await wallets.closeLease(id);
          await pool.query(`UPDATE "leases" SET "state" = 'closed', "released_micros" = $2, "closed_at" = now() WHERE "id" = $1`, [id, r.kind === 'closed' ? r.releasedMicros.toString() : '0']);
          closed++;
        } catch (err) {
          logger.warn({ err: String(err), lease_id: id }, 'cannot close a lease yet; the next sweep retries');
        }
      }
      return closed;
    },
  };
}
export type LeaseBook = ReturnType<typeof leaseBook>;
