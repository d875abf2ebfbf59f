import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { Client } from 'pg';
import { migrate } from '@platform/db';
import { reputationService } from '@platform/service-reputation';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const mb = () => Math.round(process.memoryUsage().rss / 1048576);
async function main() {
  const maxConn = Number(process.env.MAXCONN ?? 10);
  const dir = process.env.DIR ?? mkdtempSync(path.join(tmpdir(), 'pgl-'));
  let t = Date.now();
  const db = await PGlite.create({ dataDir: dir });
  console.log('pglite create', Date.now() - t, 'ms rss', mb());
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: maxConn });
  await server.start();
  const url = `postgresql://postgres:postgres@${server.getServerConn()}/postgres`;
  t = Date.now();
  console.log(await migrate(url, reputationService.migrationsDir), 'migrate', Date.now() - t);

  // interleaving test: two pg clients, parameterized queries concurrently
  if (process.env.INTERLEAVE) {
    const a = new Client({ connectionString: url }); const b = new Client({ connectionString: url });
    await a.connect(); await b.connect();
    let wrong = 0, errors = 0;
    const run = async (c: Client, tag: number) => {
      for (let i = 0; i < 200; i++) {
        try {
          const r = tag === 1 ? await c.query('SELECT $1::int AS v, $2::text AS who', [i, `c${tag}`]) : await c.query('SELECT $1::int + 1000 AS v, $2::text AS who, 1 AS extra', [i, `c${tag}`]);
          if (r.rows[0].v !== (tag === 1 ? i : i + 1000) || r.rows[0].who !== `c${tag}`) wrong++;
        } catch (e) { errors++; if (errors < 3) console.log('err', (e as Error).message); }
      }
    };
    t = Date.now();
    await Promise.all([run(a, 1), run(b, 2)]);
    console.log('interleave wrong', wrong, 'errors', errors, Date.now() - t, 'ms');
    await a.end().catch(() => {}); await b.end().catch(() => {});
  }
  process.env.PG_POOL_MAX = process.env.POOL ?? '1';
  const prisma = reputationService.createDb(url);
  t = Date.now();
  await prisma.usageObservation.create({ data: { usageId: 'u' + Date.now(), serviceId: 's', providerId: 'p', buyerId: 'b', statusCode: 200, latencyMs: 5, calledAt: new Date() } as any });
  console.log('create', Date.now() - t);
  t = Date.now();
  await prisma.$transaction(async (tx) => {
    await tx.usageObservation.create({ data: { usageId: 'tx' + Date.now(), serviceId: 's', providerId: 'p', buyerId: 'b', statusCode: 200, latencyMs: 5, calledAt: new Date() } as any });
    await tx.$queryRawUnsafe('SELECT 1');
  });
  console.log('tx', Date.now() - t);
  t = Date.now();
  for (let i = 0; i < 200; i++) await prisma.usageObservation.findFirst({ where: { serviceId: 's' } });
  console.log('200 lookups', Date.now() - t);
  // concurrency: interactive transactions in parallel with plain queries
  t = Date.now();
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(prisma.$transaction(async (tx) => {
      const n = await tx.usageObservation.count();
      await new Promise((r) => setTimeout(r, 5));
      await tx.usageObservation.create({ data: { usageId: `c${i}-${Date.now()}`, serviceId: 's', providerId: 'p', buyerId: 'b', statusCode: 200, latencyMs: n, calledAt: new Date() } as any });
    }, { maxWait: 10000 }));
    jobs.push(prisma.usageObservation.findMany({ take: 5 }));
  }
  const res = await Promise.allSettled(jobs);
  console.log('concurrent', Date.now() - t, 'ms; failures', res.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason).slice(0, 200)));
  console.log('count', await prisma.usageObservation.count(), 'rss', mb(), 'stats', server.getStats());
  await prisma.$disconnect();
  await server.stop();
  await db.close();
  console.log('closed; dir', dir);
}
main().catch((e) => { console.error(e); process.exit(1); });
