import { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { AnyEnvelope, EventBus, InProcessBus, Outbox, OUTBOX_MIGRATION_SQL, createEnvelope, idempotentBatchHandler, idempotentHandler } from '../src';
import { freshDatabase, eventually } from '@platform/testing';
import { pgDatabase } from './support';

describe('transactional outbox and idempotent consumers (real PostgreSQL)', () => {
  let pool: Pool;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await freshDatabase('outbox');
    drop = db.drop;
    pool = new Pool({ connectionString: db.url, max: 4 });
    await pool.query(OUTBOX_MIGRATION_SQL);
    await pool.query('CREATE TABLE things (id text primary key)');
  });
  afterAll(async () => {
    await pool.end();
    await drop();
  });

  const data = (n: number) => ({ owner_id: 'o', credits: n, reason: 'test' });

  it('publishes an event only if its transaction commits', async () => {
    const db = pgDatabase(pool);
    const bus = new InProcessBus();
    const seen: AnyEnvelope[] = [];
    await bus.subscribe({ group: 'g', types: ['credits.granted'], handler: async (e) => void seen.push(e) });
    const outbox = new Outbox({ source: 'wallets', db, bus, pollMs: 10 });
    outbox.start();
    await db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe('INSERT INTO things VALUES ($1)', 'kept');
      await outbox.stage(tx, 'credits.granted', 'kept', data(1));
    });
    await expect(
      db.$transaction(async (tx) => {
        await outbox.stage(tx, 'credits.granted', 'rolled-back', data(2));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await eventually(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((e) => e.subject)).toEqual(['kept']);
    await outbox.stop();
    expect(await outbox.pendingCount()).toBe(0);
  });

  it('LISTENing: a commit, in this process or another, is published at once, though the relay almost never polls', async () => {
    const db = pgDatabase(pool);
    const bus = new InProcessBus();
    const seen: AnyEnvelope[] = [];
    await bus.subscribe({ group: 'listen', types: ['credits.granted'], handler: async (e) => void seen.push(e) });
    const url = (pool as unknown as { options: { connectionString: string } }).options.connectionString;
    const outbox = new Outbox({ source: 'wallets', db, bus, pollMs: 60_000, listenUrl: url, listenPollMs: 60_000 });
    const other = new Outbox({ source: 'wallets', db, bus: new InProcessBus(), pollMs: 60_000, listenUrl: url, listenPollMs: 60_000 });
    outbox.start();
    // The first look (at start) is done and the LISTEN is in place before anything is staged.
    await eventually(() => outbox.pollMs === 60_000);
    await new Promise((r) => setTimeout(r, 50));
    await db.$transaction(async (tx) => {
      await outbox.stage(tx, 'credits.granted', 'listened', data(1));
    });
    await expect(
      db.$transaction(async (tx) => {
        await outbox.stage(tx, 'credits.granted', 'listened-rolled-back', data(2));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    // Staged by another replica's code (its relay is not started): this relay hears the commit.
    await db.$transaction(async (tx) => {
      await other.stage(tx, 'credits.granted', 'other-replica', data(3));
    });
    // Rows written by the caller's own SQL, with the notification it appends.
    expect(outbox.notifySql).toMatch(/pg_notify/);
    await db.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(
        `INSERT INTO "outbox_events" ("id", "type", "subject", "envelope") VALUES ($1::uuid, 'credits.granted', 'raw', $2::jsonb)`,
        randomUUID(),
        JSON.stringify({ ...JSON.parse(JSON.stringify(seen[0] ?? {})), id: randomUUID(), subject: 'raw', type: 'credits.granted', source: 'wallets', data: data(4), time: new Date().toISOString(), specversion: '1.0' }),
      );
      await tx.$queryRawUnsafe(outbox.notifySql!);
    });
    // The relay's poll is 60 s away: only the notifications can wake it before eventually gives up.
    await eventually(() => seen.length === 3, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.map((e) => e.subject).sort()).toEqual(['listened', 'other-replica', 'raw']);
    await outbox.stop();
    expect(await outbox.pendingCount()).toBe(0);
  });

  it('keeps events while the bus is down and publishes them when it returns', async () => {
    const db = pgDatabase(pool);
    let up = false;
    const published: AnyEnvelope[] = [];
    const flaky: EventBus = {
      kind: 'in-process',
      async publish(es) {
        if (!up) throw new Error('bus down');
        published.push(...es);
      },
      async subscribe() {},
      async healthy() { return up; },
      async close() {},
    };
    const outbox = new Outbox({ source: 'wallets', db, bus: flaky, pollMs: 10 });
    outbox.start();
    const subject = randomUUID();
    await db.$transaction((tx) => outbox.stage(tx, 'credits.granted', subject, data(3)));
    await new Promise((r) => setTimeout(r, 200));
    expect(await outbox.pendingCount()).toBe(1);
    up = true;
    await eventually(() => published.some((e) => e.subject === subject), 10_000);
    await outbox.stop();
    expect(published.filter((e) => e.subject === subject)).toHaveLength(1);
  });

  it('applies a redelivered event once per consumer', async () => {
    const db = pgDatabase(pool);
    const handled: string[] = [];
    const handler = idempotentHandler(db, 'test.consumer', async (e, tx) => {
      await tx.$executeRawUnsafe('INSERT INTO things VALUES ($1)', `from-${e.id}`);
      handled.push(e.id);
    });
    const bus = new InProcessBus();
    const outbox = new Outbox({ source: 'wallets', db, bus });
    const e = await db.$transaction((tx) => outbox.stage(tx, 'credits.granted', 'x', data(4)));
    await handler(e);
    await handler(e);
    await handler(e);
    expect(handled).toEqual([e.id]);
    const rows = await pool.query('SELECT count(*)::int AS n FROM things WHERE id = $1', [`from-${e.id}`]);
    expect(rows.rows[0].n).toBe(1);
  });

  it('applies a batch in one transaction, each event once, and falls back to one at a time when one fails', async () => {
    const db = pgDatabase(pool);
    const consumer = `batch.${randomUUID()}`;
    const tag = randomUUID().slice(0, 8);
    let poison = '';
    const apply = async (e: AnyEnvelope, tx: Parameters<Parameters<typeof idempotentHandler>[2]>[1]) => {
      if (e.subject === poison) throw new Error('poison');
      await tx.$executeRawUnsafe('INSERT INTO things VALUES ($1)', `${tag}-${e.subject}`);
    };
    // What committed: a subject applied twice would have failed on the primary key.
    const applied = async () => (await pool.query('SELECT id FROM things WHERE id LIKE $1', [`${tag}-%`])).rows.map((r) => r.id.slice(tag.length + 1)).sort();
    const single = idempotentHandler(db, consumer, apply);
    const batch = idempotentBatchHandler(db, consumer, apply, single);
    const ev = (subject: string) => createEnvelope('wallets', 'credits.granted', subject, data(1)) as AnyEnvelope;
    const [a, b, c, d, e, f] = ['a', 'b', 'c', 'd', 'e', 'f'].map(ev);

    await single(a); // seen before the batch
    await batch([a, b, b, c]); // a again, b twice in one batch
    expect(await applied()).toEqual(['a', 'b', 'c']);

    // One event that cannot be applied: the batch's transaction rolls back, then each is tried
    // alone, in order: the ones before it commit, and it holds back those after it (as on a partition).
    poison = 'd';
    await expect(batch([e, d, f])).rejects.toThrow('poison');
    expect(await applied()).toEqual(['a', 'b', 'c', 'e']);
    poison = '';
    await batch([e, d, f]); // the redelivery: e stays applied once, d and f apply
    expect(await applied()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const seen = await pool.query('SELECT count(*)::int AS n FROM processed_events WHERE consumer = $1', [consumer]);
    expect(seen.rows[0].n).toBe(6);
  });

  it('with `many`, hands the fresh events of a batch to it once, in order, and falls back to one at a time when it fails', async () => {
    const db = pgDatabase(pool);
    const consumer = `batch-many.${randomUUID()}`;
    const tag = randomUUID().slice(0, 8);
    type Tx = Parameters<Parameters<typeof idempotentHandler>[2]>[1];
    const insert = (e: AnyEnvelope, tx: Tx) => tx.$executeRawUnsafe('INSERT INTO things VALUES ($1)', `${tag}-${e.subject}`);
    const applied = async () => (await pool.query('SELECT id FROM things WHERE id LIKE $1', [`${tag}-%`])).rows.map((r) => r.id.slice(tag.length + 1)).sort();
    const perEvent: string[] = [];
    const calls: string[][] = [];
    const alone: string[] = [];
    let failMany = false;
    const single = idempotentHandler(db, consumer, async (e, tx) => {
      alone.push(e.subject);
      await insert(e, tx);
    });
    const batch = idempotentBatchHandler(
      db,
      consumer,
      async (e) => {
        perEvent.push(e.subject);
        throw new Error('fn must not be called when many is given');
      },
      single,
      {
        many: async (es, tx) => {
          calls.push(es.map((e) => e.subject));
          for (const e of es) await insert(e, tx);
          if (failMany) throw new Error('many failed');
        },
      },
    );
    const ev = (subject: string) => createEnvelope('wallets', 'credits.granted', subject, data(1)) as AnyEnvelope;
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(ev);

    await single(a); // seen before the batch
    await batch([a, b, b, c]);
    expect(calls).toEqual([['b', 'c']]);
    expect(alone).toEqual(['a']);
    expect(perEvent).toEqual([]);
    expect(await applied()).toEqual(['a', 'b', 'c']);

    // `many` wrote d and e, then failed: its transaction rolls back (the ids with it, or `single`
    // would find them seen and skip them), and each event is applied alone, c as a duplicate.
    failMany = true;
    alone.length = 0;
    await batch([c, d, e]);
    expect(calls).toEqual([['b', 'c'], ['d', 'e']]);
    expect(alone).toEqual(['d', 'e']);
    expect(perEvent).toEqual([]);
    expect(await applied()).toEqual(['a', 'b', 'c', 'd', 'e']);
    const seen = await pool.query('SELECT count(*)::int AS n FROM processed_events WHERE consumer = $1', [consumer]);
    expect(seen.rows[0].n).toBe(5);

    // Everything is now seen: a redelivered batch does not call `many` at all.
    failMany = false;
    await batch([b, d, e]);
    expect(calls).toHaveLength(2);
    expect(alone).toEqual(['d', 'e']);
    expect(await applied()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
