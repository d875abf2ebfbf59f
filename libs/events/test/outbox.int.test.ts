import { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { AnyEnvelope, EventBus, InProcessBus, Outbox, OUTBOX_MIGRATION_SQL, idempotentHandler } from '../src';
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
});
