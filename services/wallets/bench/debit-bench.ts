/**
 * Micro-benchmark of POST /internal/debits (not a test): a wallets instance on a fresh
 * database, N debits from C concurrent clients, for one buyer (every debit on one
 * ledger_accounts row) and for many buyers. Bounded by count and by a deadline.
 *
 *   cd services/wallets && node --import tsx bench/debit-bench.ts [N=2000] [C=32]
 */
import { performance } from 'node:perf_hooks';
import { startWallets, fund, asService } from '../test/helpers';

const N = Number(process.argv[2] ?? 2000);
const C = Number(process.argv[3] ?? 32);
const DEADLINE_MS = 120_000;
const BUYERS = 64;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function run(url: string, label: string, buyerOf: (i: number) => string) {
  const headers = { 'content-type': 'application/json', ...asService() };
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const start = performance.now();
  const stopAt = start + DEADLINE_MS;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N && performance.now() < stopAt) {
        const i = next++;
        const t0 = performance.now();
        const res = await fetch(`${url}/internal/debits`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ usage_id: `${label}-${i}`, buyer_id: buyerOf(i), amount_micros: '1', provider_id: 'bench-provider', service_id: 'bench-service' }),
        });
        await res.arrayBuffer();
        lat.push(performance.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(12)} n=${lat.length} c=${C} ${(lat.length / secs).toFixed(0)} req/s  p50=${pct(lat, 50).toFixed(1)}ms  p99=${pct(lat, 99).toFixed(1)}ms  statuses=${JSON.stringify(Object.fromEntries(statuses))}`,
  );
}

async function main() {
  const w = await startWallets();
  try {
    await fund(w, 'bench-one', '1000');
    for (let b = 0; b < BUYERS; b++) await fund(w, `bench-many-${b}`, '1000');
    await run(w.url, 'warmup', (i) => `bench-many-${i % BUYERS}`);
    await run(w.url, 'one-buyer', () => 'bench-one');
    await run(w.url, 'many-buyers', (i) => `bench-many-${i % BUYERS}`);
  } finally {
    await w.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
