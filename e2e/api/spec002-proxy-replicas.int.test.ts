import { freshDatabase, startUpstream, Upstream, eventually, TEST_SECRET } from '@platform/testing';
import { startService, RunningService } from '@platform/service';
import { meteringService, readConfig } from '@platform/service-metering';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';
import { freePort } from '../support/fleet';

jest.setTimeout(90_000);

/**
 * Issue 5 "Scaling the tier": two metering replicas on one database behind the gateway
 * (METERING_URL lists both; the gateway round-robins). Metering keeps nothing between
 * requests and the balance lives in wallets, so concurrent calls of one buyer spread over
 * both replicas never spend more than the buyer has.
 */
describe('two metering replicas behind the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let provider: Upstream;
  let second: RunningService<unknown>;
  let dropDb: () => Promise<void>;
  let replicaUrls: string[];
  let serviceId: string;

  /** POST requests a replica has answered (in this suite only proxy calls), from its own Prometheus metrics. */
  const proxyCallsServedBy = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('method="POST"'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };

  beforeAll(async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    replicaUrls = [`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`];
    const db = await freshDatabase('s002replicas_metering');
    dropDb = db.drop;
    platform = await startPlatform('s002replicas', {
      INTERNAL_TOKEN_SECRET: TEST_SECRET,
      METERING_DATABASE_URL: db.url,
      METERING_PORT: String(p1),
      // The gateway's upstream list; only the gateway reads METERING_URL.
      METERING_URL: replicaUrls.join(','),
      // Every request comes from 127.0.0.1; the per-IP limit has its own tests in the gateway.
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_IP_BURST: '100000',
    });
    // The second replica: the same service, database and bus, another process port.
    second = await startService(
      meteringService,
      readConfig({
        DATABASE_URL: db.url,
        INTERNAL_TOKEN_SECRET: TEST_SECRET,
        PORT: String(p2),
        WALLETS_URL: platform.standalone.services.wallets.url,
        OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
        OUTBOX_POLL_MS: '20',
        LOG_LEVEL: 'silent',
      }),
      { inProcessBus: platform.standalone.bus },
    );
    api = client(platform.url);
    provider = await startUpstream((_req, _body, res) => {
      setTimeout(() => res.end('{"ok":true}'), 20);
    });
    const p = await api.post('/api/v1/keys', { owner_id: 'replica-provider', role: 'provider' }, bearer(ADMIN_KEY));
    const providerAuth = bearer(`${p.body.key_id}:${p.body.secret}`);
    const s = await api.post('/api/v1/services', { name: 'Replicated API', endpoint: provider.url, price_per_call: '0.05', category: 'ai' }, providerAuth);
    expect(s.status).toBe(201);
    serviceId = s.body.id;
    const probe = await newBuyer('replica-probe');
    // Both replicas must know the price before the load: either answering 402 (not 404) shows the read model has it.
    await eventually(async () => {
      const statuses = await Promise.all([0, 1].map(async () => (await api.get(`/api/v1/proxy/${serviceId}/x`, probe)).status));
      return statuses.every((st) => st === 402);
    }, 10_000, 100);
  });
  afterAll(async () => {
    await second?.stop();
    await platform?.stop();
    await provider?.close();
    await dropDb?.();
  });

  async function newBuyer(ownerId: string, fund?: string) {
    const k = await api.post('/api/v1/keys', { owner_id: ownerId, role: 'buyer', rate_limit: 1000 });
    expect(k.status).toBe(201);
    const auth = bearer(`${k.body.key_id}:${k.body.secret}`);
    if (fund) expect((await api.post('/dev/balance/fund', { amount: fund }, auth)).status).toBe(200);
    return auth;
  }

  it('serves one buyer’s concurrent calls from both replicas and never overspends the balance', async () => {
    const auth = await newBuyer('replica-buyer', '1.00');
    const before = await Promise.all(replicaUrls.map(proxyCallsServedBy));

    // 40 calls at $0.05 against $1.00, 10 at a time: exactly 20 can be paid.
    const statuses: number[] = [];
    let charged = 0n;
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 40) {
          next++;
          const r = await fetch(`${platform.url}/api/v1/proxy/${serviceId}/work`, { method: 'POST', headers: { authorization: auth }, body: '{}' });
          await r.arrayBuffer();
          statuses.push(r.status);
          if (r.status === 200) charged += BigInt(Math.round(Number(r.headers.get('x-acf-amount')) * 1e6));
        }
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 402)).toHaveLength(20);
    expect(charged).toBe(1_000_000n);

    const balance = await api.get('/dev/balance', auth);
    expect(BigInt(balance.body.balance_micros)).toBe(1_000_000n - charged);
    expect(BigInt(balance.body.balance_micros)).toBeGreaterThanOrEqual(0n);
    const usage = await api.get('/api/v1/usage/me', auth);
    expect(usage.body).toMatchObject({ total_calls: 20, total_spent_usd: '1.00' });

    const after = await Promise.all(replicaUrls.map(proxyCallsServedBy));
    const served = after.map((n, i) => n - before[i]);
    expect(served[0] + served[1]).toBe(40);
    for (const n of served) expect(n).toBeGreaterThan(0);
  });

  it('leaves the remainder when the balance is not a multiple of the price', async () => {
    const auth = await newBuyer('replica-buyer-2', '0.12');
    const replies = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${platform.url}/api/v1/proxy/${serviceId}/work`, { method: 'POST', headers: { authorization: auth }, body: '{}' }).then(async (r) => (await r.arrayBuffer(), r.status))),
    );
    expect(replies.filter((s) => s === 200)).toHaveLength(2);
    expect((await api.get('/dev/balance', auth)).body.balance_micros).toBe('20000');
  });
});
