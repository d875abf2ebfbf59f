import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startTestChain, TestChain } from '@platform/chain';
import { dropDatabase, ensureDatabase } from '@platform/db';
import { closedLoop, concat, openLoop, RunResult, summarize, Target } from './load';
import { addCpu, components, cpuBetween, cpuSecondsOf, snapshot } from './cpu';
import { freePort, Procs, ROOT } from './procs';
import { summarizeProfile, ProfileSummary } from './profile';
import { BenchResults, Integrity, render, renderSubset, TargetName, TARGETS } from './report';

/**
 * `npm run bench`: A) the upstream alone, B) a bare Node keep-alive proxy, C) Express +
 * http-proxy-middleware, D) the platform's paid-call path as spec 001 makes it (gateway + identity +
 * marketplace + wallets + metering as separate processes on real PostgreSQL, Redis and Kafka; each
 * call authorized by an agent's policy and debited from its payment session), D') the same
 * with the in-process bus instead of Kafka, G0/G1) a gateway route without and with auth, and G2 the gateway in front of the bare proxy (the ceiling of any metering behind it).
 * Warm-up, then interleaved rounds of closed-loop maximum throughput, then interleaved rounds of
 * open-model latency at a fraction of D's maximum. See README.md "Benchmark".
 */

const env = process.env;
const num = (name: string, fallback: number, min = 0) => {
  const v = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number ≥ ${min}`);
  return v;
};
const CFG = {
  seconds: num('BENCH_SECONDS', 5, 1),
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 3, 0),
  rounds: Math.round(num('BENCH_ROUNDS', 3, 1)),
  connections: Math.round(num('BENCH_CONNECTIONS', 32, 1)),
  loadFraction: num('BENCH_LOAD_FRACTION', 0.5, 0.01),
  openMaxSockets: Math.round(num('BENCH_OPEN_MAX_SOCKETS', 512, 1)),
  timeoutMs: num('BENCH_TIMEOUT_MS', 10_000, 100),
  maxRequestsPerRun: Math.round(num('BENCH_MAX_REQUESTS', 2_000_000, 1)),
  profile: env.BENCH_PROFILE !== '0',
  keep: env.BENCH_KEEP === '1',
  /** Start and set up everything, write the targets to <run folder>/targets.json, then wait for Ctrl-C (to probe by hand). */
  hold: env.BENCH_HOLD === '1',
  logLevel: env.BENCH_LOG_LEVEL ?? 'info',
  pgUrl: env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  redisUrl: env.BENCH_REDIS_URL ?? env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  kafka: env.BENCH_KAFKA_BROKERS ?? `127.0.0.1:${env.KAFKA_PORT ?? '9092'}`,
  outDir: env.BENCH_OUT_DIR ?? path.join(ROOT, 'bench', 'results'),
  targets: targetsOf(env.BENCH_TARGETS),
  /** Open-model rate; unset: BENCH_LOAD_FRACTION of D's maximum, or 100 req/s when D is not measured. */
  openRate: env.BENCH_OPEN_RATE ? num('BENCH_OPEN_RATE', 100, 1) : undefined,
};

/**
 * BENCH_TARGETS=A,B,C,G0,G1 measures only those (a quick run: without D and D' no marketplace,
 * wallets or metering is started, and the results go to the run folder, not bench/results).
 * D and D' always run together: D' reuses D's set-up.
 */
function targetsOf(list: string | undefined): TargetName[] {
  if (!list) return [...TARGETS];
  const want = new Set(list.split(',').map((t) => t.trim()).filter(Boolean));
  for (const t of want) if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`BENCH_TARGETS: unknown target ${t} (known: ${TARGETS.join(', ')})`);
  if (want.has('D') || want.has("D'")) want.add('D').add("D'");
  return TARGETS.filter((t) => want.has(t));
}
const want = (t: TargetName) => CFG.targets.includes(t);
/** The whole paid-call fleet (D and D') is measured; otherwise only what the chosen targets need runs. */
const FULL = want('D');
const WANT_GATEWAY = FULL || want('G0') || want('G1') || want('G2');

/** Price of the benchmarked service: every call is a real debit of the agent's payment session. */
const PRICE = '0.001';
const PRICE_MICROS = 1_000n;
/** metering's slug of the service's name (`slugOf`): the name the agent's policy allows it by. */
const SERVICE_NAME = 'Bench Sentiment';
const SERVICE_SLUG = 'bench-sentiment';
/**
 * What each agent gets from the faucet and deposits into its session: 100,000 calls a second for
 * 17 minutes at PRICE, far beyond a full run (a few hundred thousand calls). wallets takes at most
 * $1,000,000 per faucet drip and per deposit.
 */
const DEPOSIT = '100000.00';
const DEPOSIT_MICROS = 100_000_000_000n;
/** Spec 001's longest session (24 h): it outlasts any run, so no call meets an expired session. */
const SESSION_SECONDS = 86_400;
/**
 * The agents' spec 001 policy: allowed services, require_session, per-call max and the daily limit
 * are checked on every call (in metering's authorize and again in the session debit) and never
 * refuse one: the day's spend cannot pass the deposit, and the price is a tenth of per_call_max.
 */
const AGENT_POLICY = { per_call_max: (PRICE_MICROS * 10n).toString(), daily_limit: DEPOSIT_MICROS.toString(), allowed_services: [SERVICE_SLUG], require_session: true };
/** Identity's API caps a self-issued key at 1000/min; the bench keys are raised to this in identity's table. */
const KEY_RATE_LIMIT = 1_000_000;
const BODY = Buffer.from(JSON.stringify({ text: 'Analyze this benchmark call' }));

const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const runDir = path.join(ROOT, '.tmp', 'bench', stamp);
const procs = new Procs(runDir);
const dbNames = ['identity', 'marketplace', 'wallets', 'metering', 'wallets_inproc', 'metering_inproc'] as const;
type DbName = (typeof dbNames)[number];
const dbUrl = Object.fromEntries(
  dbNames.map((n) => {
    const u = new URL(CFG.pgUrl);
    u.pathname = `/bench_${stamp}_${n}`;
    return [n, u.toString()];
  }),
) as Record<DbName, string>;
const sql = new Map<DbName, Client>();
/** The test USDC deployments D's and D''s wallets use (a chain node of their own only when none answered). */
const chains: TestChain[] = [];
/** The databases this run's processes use. */
const usedDbs: DbName[] = FULL ? [...dbNames] : WANT_GATEWAY ? ['identity'] : [];

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const alnum = (n: number) => {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(n), (b) => chars[b % chars.length]).join('');
};

async function query<T = Record<string, unknown>>(db: DbName, text: string, params: unknown[] = []): Promise<T[]> {
  let c = sql.get(db);
  if (!c) {
    c = new Client({ connectionString: dbUrl[db] });
    await c.connect();
    sql.set(db, c);
  }
  return (await c.query(text, params)).rows as T[];
}

async function call(base: string, method: string, p: string, body?: unknown, auth?: string, extra: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...extra },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

function expect(cond: unknown, what: string, detail?: unknown): asserts cond {
  if (!cond) throw new Error(`set-up failed: ${what}${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
}

async function startAll() {
  mkdirSync(runDir, { recursive: true });
  const port = async () => freePort();
  const ports = {
    upstream: await port(),
    bare: await port(),
    express: await port(),
    identity: await port(),
    marketplace: await port(),
    wallets: await port(),
    metering: await port(),
    gateway: await port(),
    walletsInproc: await port(),
    meteringInproc: await port(),
    gatewayInproc: await port(),
  };
  const url = (p: number) => `http://127.0.0.1:${p}`;
  const secrets = {
    INTERNAL_TOKEN_SECRET: randomBytes(32).toString('hex'),
    KEY_HASH_SECRET: randomBytes(32).toString('hex'),
    BOOTSTRAP_ADMIN_KEY: `acf_${alnum(16)}:sec_${alnum(40)}`,
  };
  const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const common = { HOST: '127.0.0.1', INTERNAL_TOKEN_SECRET: secrets.INTERNAL_TOKEN_SECRET, LOG_LEVEL: CFG.logLevel, OTEL_SDK_DISABLED: 'true' };
  const kafka = { KAFKA_BROKERS: CFG.kafka };
  const noKafka = { KAFKA_BROKERS: '' };
  const bench = path.join(ROOT, 'bench');
  const proc = (p: string) => path.join(bench, 'processes', p);
  const hook = proc('cpu-profile-hook.ts');
  const profiled = (name: string) => ({ BENCH_PROFILE_DIR: runDir, BENCH_PROFILE_NAME: name });
  const service = (name: string) => path.join(ROOT, 'services', name);
  const gatewayEnv = {
    ...common,
    REDIS_URL: CFG.redisUrl,
    // Every bench request comes from 127.0.0.1: the per-IP bucket is set to its maximum so it never throttles (it still runs, in Redis).
    RATE_LIMIT_IP_PER_MIN: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    IDENTITY_URL: url(ports.identity),
    MARKETPLACE_URL: url(ports.marketplace),
    WEBHOOKS_URL: url(ports.upstream),
    // G2: the gateway in front of the bare proxy (B), the two hops of D with no work in the second.
    RUNTIME_URL: url(ports.bare),
  };

  procs.start({ name: 'upstream', cwd: bench, entry: proc('upstream.ts'), env: {}, port: ports.upstream, readyPath: '/' });
  if (want('B') || want('G2')) procs.start({ name: 'bare-proxy', cwd: bench, entry: proc('bare-proxy.ts'), env: { UPSTREAM_URL: url(ports.upstream) }, port: ports.bare, readyPath: '/' });
  if (want('C')) procs.start({ name: 'express-proxy', cwd: bench, entry: proc('express-proxy.ts'), env: { UPSTREAM_URL: url(ports.upstream) }, port: ports.express, readyPath: '/' });
  if (!WANT_GATEWAY) {
    for (const name of procs.all.keys()) await procs.waitReady(name);
    return { ports, secrets };
  }

  procs.start({
    name: 'identity',
    cwd: service('identity'),
    entry: 'src/main.ts',
    preload: [hook],
    env: { ...common, ...kafka, ...profiled('identity'), DATABASE_URL: dbUrl.identity, KEY_HASH_SECRET: secrets.KEY_HASH_SECRET, BOOTSTRAP_ADMIN_KEY: secrets.BOOTSTRAP_ADMIN_KEY, JWT_SIGNING_KEYS: JSON.stringify([{ kid: `bench-${stamp}`, private_key: jwtKey }]) },
    port: ports.identity,
    readyPath: '/ready',
  });
  if (!FULL) {
    // Only G0/G1: identity (to verify the key once) and the gateway, configured as for D.
    procs.start({
      name: 'gateway',
      cwd: bench,
      entry: proc('gateway.ts'),
      preload: [hook],
      env: { ...gatewayEnv, ...kafka, ...profiled('gateway'), REDIS_KEY_PREFIX: `bench:${stamp}:k:` },
      port: ports.gateway,
      readyPath: '/ready',
    });
    for (const name of procs.all.keys()) await procs.waitReady(name);
    return { ports, secrets };
  }
  // Spec 001 agent wallets and sessions need the chain: the node scripts/infra-up.sh runs, with a
  // fresh test USDC and treasury for each wallets (as e2e suites do), so neither shares nonces.
  chains.push(await startTestChain());
  chains.push(await startTestChain({ ...env, TEST_CHAIN_RPC_URL: chains[0].rpcUrl }));
  const chainEnv = (c: TestChain) => ({ CHAIN_RPC_URL: c.rpcUrl, CHAIN_ID: String(c.chainId), USDC_ADDRESS: c.usdcAddress });
  const walletsChain = (c: TestChain) => ({
    ...chainEnv(c),
    TREASURY_PRIVATE_KEY: c.treasuryPrivateKey,
    WALLET_MASTER_KEY: randomBytes(32).toString('hex'),
    DEV_FAUCET: 'true',
    // No periodic auto top-up sweep reading the chain during the measured runs.
    AUTO_TOPUP_INTERVAL_MS: '0',
  });
  procs.start({
    name: 'marketplace',
    cwd: service('marketplace'),
    entry: 'src/main.ts',
    env: { ...common, ...kafka, DATABASE_URL: dbUrl.marketplace, OUTBOUND_ALLOW_HOSTS: '127.0.0.1' },
    port: ports.marketplace,
    readyPath: '/ready',
  });
  procs.start({
    name: 'wallets',
    cwd: service('wallets'),
    entry: 'src/main.ts',
    preload: [hook],
    env: { ...common, ...kafka, ...profiled('wallets'), ...walletsChain(chains[0]), DATABASE_URL: dbUrl.wallets },
    port: ports.wallets,
    readyPath: '/ready',
  });
  procs.start({
    name: 'metering',
    cwd: service('metering'),
    entry: 'src/main.ts',
    preload: [hook],
    env: { ...common, ...kafka, ...profiled('metering'), ...chainEnv(chains[0]), DATABASE_URL: dbUrl.metering, WALLETS_URL: url(ports.wallets), OUTBOUND_ALLOW_HOSTS: '127.0.0.1', REDIS_URL: CFG.redisUrl, LEASE_KEY_PREFIX: `bench:${stamp}:lease:` },
    port: ports.metering,
    readyPath: '/ready',
  });
  procs.start({
    name: 'gateway',
    cwd: bench,
    entry: proc('gateway.ts'),
    preload: [hook],
    env: { ...gatewayEnv, ...kafka, ...profiled('gateway'), REDIS_KEY_PREFIX: `bench:${stamp}:k:`, WALLETS_URL: url(ports.wallets), METERING_URL: url(ports.metering) },
    port: ports.gateway,
    readyPath: '/ready',
  });
  // D': the same code with the outbox relays publishing to an in-process bus (no Kafka anywhere on the path).
  procs.start({
    name: 'wallets-inproc',
    cwd: bench,
    entry: proc('service-in-process-bus.ts'),
    args: ['wallets'],
    env: { ...common, ...noKafka, ...walletsChain(chains[1]), DATABASE_URL: dbUrl.wallets_inproc },
    port: ports.walletsInproc,
    readyPath: '/ready',
  });
  procs.start({
    name: 'metering-inproc',
    cwd: bench,
    entry: proc('service-in-process-bus.ts'),
    args: ['metering'],
    env: { ...common, ...noKafka, ...chainEnv(chains[1]), DATABASE_URL: dbUrl.metering_inproc, WALLETS_URL: url(ports.walletsInproc), OUTBOUND_ALLOW_HOSTS: '127.0.0.1', REDIS_URL: CFG.redisUrl, LEASE_KEY_PREFIX: `bench:${stamp}:lease-inproc:` },
    port: ports.meteringInproc,
    readyPath: '/ready',
  });
  procs.start({
    name: 'gateway-inproc',
    cwd: bench,
    entry: proc('gateway.ts'),
    env: { ...gatewayEnv, ...noKafka, REDIS_KEY_PREFIX: `bench:${stamp}:i:`, WALLETS_URL: url(ports.walletsInproc), METERING_URL: url(ports.meteringInproc) },
    port: ports.gatewayInproc,
    readyPath: '/ready',
  });
  for (const name of procs.all.keys()) await procs.waitReady(name);
  return { ports, secrets };
}

/** Who pays D's (or D''s) calls: a spec 001 agent wallet and its open payment session. */
interface Payer {
  agentId: string;
  sessionId: string;
}

interface Setup {
  targets: Record<TargetName, Target>;
  serviceId: string;
  /** Only when D and D' are measured. */
  payers?: Record<'D' | "D'", Payer>;
}

/**
 * Spec 001 as a client does it, through the gateway with the buyer's key (the session's account
 * must be the key's, or the session debit is a 404): an agent wallet, test USDC from the faucet
 * recorded by wallets from the chain, the agent's policy, and a session holding the deposit.
 */
async function agentWithSession(base: string, auth: string, name: string): Promise<Payer> {
  const agent = await call(base, 'POST', '/agents', { name }, auth);
  expect(agent.status === 201, `agent wallet ${name}`, agent.body);
  const agentId: string = agent.body.id;
  const drip = await call(base, 'POST', '/dev/faucet', { address: agent.body.wallet_address, amount: DEPOSIT_MICROS.toString() }, auth);
  expect(drip.status === 200, `test USDC for ${name}`, drip.body);
  const funded = await call(base, 'POST', `/agents/${agentId}/fund`, { tx_hash: drip.body.tx_hash, amount: DEPOSIT_MICROS.toString() }, auth);
  expect(funded.status === 200 && funded.body.funded === true, `funding ${name} from the chain`, funded.body);
  const policy = await call(base, 'PUT', `/agents/${agentId}/policy`, AGENT_POLICY, auth);
  expect(policy.status === 200, `policy of ${name}`, policy.body);
  const session = await call(base, 'POST', '/sessions', { agent_wallet_id: agentId, deposit_amount: DEPOSIT, duration: SESSION_SECONDS }, auth);
  expect(session.status === 201 && session.body.session?.status === 'open', `payment session of ${name}`, session.body);
  return { agentId, sessionId: session.body.session.id };
}

/** Keys, the service, the agents and their sessions: everything through the gateways, as a client would. */
async function setUp(ports: Awaited<ReturnType<typeof startAll>>['ports'], adminKey: string): Promise<Setup> {
  const gw = `http://127.0.0.1:${ports.gateway}`;
  const gwIn = `http://127.0.0.1:${ports.gatewayInproc}`;
  if (!FULL) return setUpSubset(ports, gw);
  const provider = await call(gw, 'POST', '/api/v1/keys', { owner_id: 'bench-provider', role: 'provider' }, adminKey);
  expect(provider.status === 201, 'provider key', provider.body);
  const providerAuth = `${provider.body.key_id}:${provider.body.secret}`;
  const svc = await call(
    gw,
    'POST',
    '/api/v1/services',
    { name: SERVICE_NAME, description: 'npm run bench', endpoint: `http://127.0.0.1:${ports.upstream}/v1`, price_per_call: PRICE, category: 'bench', free_tier_calls: 0 },
    providerAuth,
  );
  expect(svc.status === 201, 'service registration', svc.body);
  const serviceId: string = svc.body.id;

  const buyer = async (owner: string) => {
    const r = await call(gw, 'POST', '/api/v1/keys', { owner_id: owner, role: 'buyer', rate_limit: 1000 });
    expect(r.status === 201, `buyer key for ${owner}`, r.body);
    return { id: r.body.key_id as string, auth: `${r.body.key_id}:${r.body.secret}` };
  };
  const bD = await buyer('bench-buyer-kafka');
  const bDp = await buyer('bench-buyer-inproc');
  const bG = await buyer('bench-auth');
  // Before any gateway has verified (and cached) these keys.
  await query('identity', 'UPDATE "api_keys" SET "rate_limit" = $1 WHERE "id" = ANY($2)', [KEY_RATE_LIMIT, [bD.id, bDp.id, bG.id]]);

  // The buyers have no prepaid balance: a call that did not take the session path would be refused.
  const payers = {
    D: await agentWithSession(gw, bD.auth, 'bench-agent-kafka'),
    "D'": await agentWithSession(gwIn, bDp.auth, 'bench-agent-inproc'),
  };

  const headers = (auth?: string, payer?: Payer) => ({
    'content-type': 'application/json',
    ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    ...(payer ? { 'x-agent-wallet': payer.agentId, 'x-session-id': payer.sessionId } : {}),
  });
  const proxyPath = `/api/v1/proxy/${serviceId}/analyze`;
  const t = (name: TargetName, port: number, p: string, auth?: string, payer?: Payer): Target => ({
    name,
    port,
    method: 'POST',
    path: p,
    headers: headers(auth, payer),
    body: BODY,
    ...(payer ? { usageIds: new Set<string>(), duplicateUsageIds: [] } : {}),
  });
  const targets: Record<TargetName, Target> = {
    A: t('A', ports.upstream, '/v1/analyze'),
    B: t('B', ports.bare, '/v1/analyze'),
    C: t('C', ports.express, '/v1/analyze'),
    D: t('D', ports.gateway, proxyPath, bD.auth, payers.D),
    "D'": t("D'", ports.gatewayInproc, proxyPath, bDp.auth, payers["D'"]),
    G0: t('G0', ports.gateway, '/bench/open/analyze'),
    G1: t('G1', ports.gateway, '/bench/auth/analyze', bG.auth),
    G2: t('G2', ports.gateway, '/bench/chain/analyze'),
  };

  const probe = async (t: Target) => {
    const payment = Object.fromEntries(Object.entries(t.headers).filter(([k]) => k.startsWith('x-')));
    const r = await call(`http://127.0.0.1:${t.port}`, t.method, t.path, { text: 'probe' }, t.headers.authorization?.replace(/^Bearer /, ''), payment);
    if (t.name === 'D' || t.name === "D'") {
      tally[t.name].sent++;
      if (r.status === 200) {
        tally[t.name].ok++;
        t.usageIds!.add(r.headers.get('x-acf-usage-id')!);
      }
    }
    return r;
  };
  // The registration reaches D's metering read model over Kafka (marketplace's outbox -> topic -> consumer).
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await probe(targets.D);
    if (r.status === 200) break;
    expect(r.status === 404 && Date.now() < until, `service.registered did not reach metering over Kafka within 60 s (last answer ${r.status})`, r.body);
    await new Promise((res) => setTimeout(res, 200));
  }
  // D' has no bus between marketplace and its metering: its read model row is copied from D's metering.
  const [row] = await query<{ r: unknown }>('metering', 'SELECT row_to_json(p) AS r FROM "service_prices" p WHERE "service_id" = $1', [serviceId]);
  expect(row, 'price row in metering');
  expect((row.r as { slug?: string }).slug === SERVICE_SLUG, `metering's slug of the service is ${SERVICE_SLUG} (the agents' allowed_services)`, row.r);
  await query('metering_inproc', 'INSERT INTO "service_prices" SELECT * FROM json_populate_record(NULL::"service_prices", $1::json)', [JSON.stringify(row.r)]);
  for (const n of CFG.targets) {
    const r = await probe(targets[n]);
    expect(r.status === 200, `${n} answers 200`, { status: r.status, body: r.body });
  }
  return { targets, serviceId, payers };
}

const headersFor = (auth?: string) => ({ 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) });
const plainTarget = (name: TargetName, port: number, p: string, auth?: string): Target => ({ name, port, method: 'POST', path: p, headers: headersFor(auth), body: BODY });

/** BENCH_TARGETS without D: the same targets as a full run, but only those chosen (G1's key made through the gateway). */
async function setUpSubset(ports: Awaited<ReturnType<typeof startAll>>['ports'], gw: string): Promise<Setup> {
  const targets: Partial<Record<TargetName, Target>> = {
    A: plainTarget('A', ports.upstream, '/v1/analyze'),
    B: plainTarget('B', ports.bare, '/v1/analyze'),
    C: plainTarget('C', ports.express, '/v1/analyze'),
  };
  if (WANT_GATEWAY) {
    const r = await call(gw, 'POST', '/api/v1/keys', { owner_id: 'bench-auth', role: 'buyer', rate_limit: 1000 });
    expect(r.status === 201, 'buyer key for bench-auth', r.body);
    await query('identity', 'UPDATE "api_keys" SET "rate_limit" = $1 WHERE "id" = $2', [KEY_RATE_LIMIT, r.body.key_id]);
    targets.G0 = plainTarget('G0', ports.gateway, '/bench/open/analyze');
    targets.G1 = plainTarget('G1', ports.gateway, '/bench/auth/analyze', `${r.body.key_id}:${r.body.secret}`);
    targets.G2 = plainTarget('G2', ports.gateway, '/bench/chain/analyze');
  }
  for (const n of CFG.targets) {
    const t = targets[n]!;
    const r = await call(`http://127.0.0.1:${t.port}`, t.method, t.path, { text: 'probe' }, t.headers.authorization?.replace(/^Bearer /, ''));
    expect(r.status === 200, `${n} answers 200`, { status: r.status, body: r.body });
  }
  return { targets: targets as Record<TargetName, Target>, serviceId: '' };
}

const tally: Record<'D' | "D'", { sent: number; ok: number }> = { D: { sent: 0, ok: 0 }, "D'": { sent: 0, ok: 0 } };
const runs: RunResult[] = [];

/** Failures outside the measured rounds (warm-up, profile run), by target. */
const otherFailures: Record<string, Record<string, number>> = {};

function record(r: RunResult, phase: 'warmup' | 'closed' | 'open' | 'profile'): RunResult {
  if (r.target === 'D' || r.target === "D'") {
    tally[r.target].sent += r.sent;
    tally[r.target].ok += r.ok;
  }
  if (phase !== 'warmup' && phase !== 'profile') runs.push(r);
  else for (const [k, v] of Object.entries(r.failures)) (otherFailures[r.target] ??= {})[k] = (otherFailures[r.target]?.[k] ?? 0) + v;
  return r;
}

/** Outbox rows not yet on the bus, in the metering and wallets databases of a metered target. */
async function outboxPending(t: 'D' | "D'"): Promise<number> {
  const dbs: DbName[] = t === 'D' ? ['metering', 'wallets'] : ['metering_inproc', 'wallets_inproc'];
  let n = 0;
  for (const db of dbs) n += Number((await query<{ n: string }>(db, 'SELECT count(*) AS n FROM "outbox_events" WHERE "published_at" IS NULL'))[0].n);
  return n;
}

/** After a metered run: what the relays still owed, and how long they took to catch up (bounded). */
async function drain(t: 'D' | "D'"): Promise<{ pendingAtEnd: number; drainMs: number }> {
  const t0 = Date.now();
  const pendingAtEnd = await outboxPending(t);
  let left = pendingAtEnd;
  while (left > 0 && Date.now() - t0 < 60_000) {
    await new Promise((r) => setTimeout(r, 50));
    left = await outboxPending(t);
  }
  if (left > 0) log(`warning: ${left} outbox events of ${t} still unpublished after 60 s`);
  return { pendingAtEnd, drainMs: Date.now() - t0 };
}

/**
 * After the runs, D's (or D''s) books against what the client saw: every 2xx has one completed
 * record, every completed record one session debit (`payment:<usage_id>`, kind payment, on this
 * session) that was not refunded (`refund:<usage_id>`), no such debit without a record, and the
 * money adds up: the session's ledger balance is the deposit less the price times the net debits,
 * and its used_amount, call_count and the agent's spend count exactly those debits. Session-paid
 * calls never spend a balance lease, and the buyer has no prepaid balance, so nothing else holds
 * any of this money.
 */
async function checkIntegrity(t: 'D' | "D'", target: Target, payer: Payer): Promise<Integrity> {
  const [metering, wallets] = (t === 'D' ? ['metering', 'wallets'] : ['metering_inproc', 'wallets_inproc']) as [DbName, DbName];
  // A call metering gave up on (wallets too slow) is refunded by its sweeper, every REFUND_SWEEP_MS: let it finish first.
  const owedIds = async () =>
    (await query<{ id: string }>(metering, `SELECT "id" FROM "usage_records" WHERE "refund" = 'pending' OR "status" = 'pending' OR "lease_charge" = 'pending'`)).map((r) => r.id);
  let owed = await owedIds();
  for (const until = Date.now() + 30_000; owed.length && Date.now() < until; owed = await owedIds()) await new Promise((r) => setTimeout(r, 500));
  const owedSet = new Set(owed);
  const byStatus = Object.fromEntries(
    (await query<{ status: string; n: string }>(metering, 'SELECT "status", count(*) AS n FROM "usage_records" GROUP BY "status"')).map((r) => [r.status, Number(r.n)]),
  );
  const completed = new Set((await query<{ id: string }>(metering, `SELECT "id" FROM "usage_records" WHERE "status" = 'completed'`)).map((r) => r.id));
  const [off] = await query<{ n: string }>(
    metering,
    `SELECT count(*) AS n FROM "usage_records" WHERE "status" = 'completed'
        AND ("payment_method" <> 'session' OR "session_id" IS DISTINCT FROM $1 OR "agent_id" IS DISTINCT FROM $2)`,
    [payer.sessionId, payer.agentId],
  );
  const entries = await query<{ k: string; kind: string; session: string | null }>(
    wallets,
    `SELECT "idempotency_key" AS k, "kind", "metadata"->>'session_id' AS session FROM "ledger_entries" WHERE "kind" IN ('payment', 'refund')`,
  );
  const usageOf = (key: string) => key.slice(key.indexOf(':') + 1);
  const isSessionDebit = (e: (typeof entries)[number]) => e.kind === 'payment' && e.k.startsWith('payment:') && e.session === payer.sessionId;
  const charged = entries.filter(isSessionDebit).map((e) => usageOf(e.k));
  const chargesOffSession = entries.filter((e) => e.kind === 'payment' && !isSessionDebit(e)).length;
  const refunded = new Set(entries.filter((e) => e.kind === 'refund' && e.session === payer.sessionId).map((e) => usageOf(e.k)));
  // A debit metering gave back (wallets too slow, caller gone) is no charge: its record is failed or abandoned.
  const netCharged = charged.filter((id) => !refunded.has(id));
  const chargedSet = new Set(netCharged);
  const events = Object.fromEntries(
    (await query<{ state: string; n: string }>(
      metering,
      `SELECT CASE WHEN "published_at" IS NULL THEN 'pending' ELSE 'published' END AS state, count(*) AS n FROM "outbox_events" WHERE "type" = 'service.called' GROUP BY 1`,
    )).map((r) => [r.state, Number(r.n)]),
  );
  const seen = target.usageIds!;
  const lost = [...seen].filter((id) => !completed.has(id)).length;
  const unacknowledged = [...completed].filter((id) => !seen.has(id)).length;
  const chargedWithoutRecord = netCharged.filter((id) => !completed.has(id) && !owedSet.has(id)).length;
  const recordsWithoutCharge = [...completed].filter((id) => !chargedSet.has(id)).length;
  const [session] = await query<{ deposit: string; used: string; calls: number; status: string; expired: boolean }>(
    wallets,
    `SELECT "deposit_amount"::text AS deposit, "used_amount"::text AS used, "call_count" AS calls, "status", "expires_at" <= now() AS expired FROM "payment_sessions" WHERE "id" = $1`,
    [payer.sessionId],
  );
  const [bal] = await query<{ b: string }>(wallets, `SELECT "balance"::text AS b FROM "ledger_accounts" WHERE "kind" = 'session_balance' AND "owner_id" = $1`, [payer.sessionId]);
  const [spent] = await query<{ s: string }>(wallets, `SELECT "spent"::text AS s FROM "agent_spend" WHERE "agent_id" = $1::uuid AND "period" = 'total'`, [payer.agentId]);
  const netMicros = PRICE_MICROS * BigInt(netCharged.length);
  return {
    clientSent: tally[t].sent,
    clientOk: tally[t].ok,
    usageIdsAnswered: seen.size,
    duplicateUsageIds: target.duplicateUsageIds!.length,
    records: byStatus,
    lost,
    unacknowledged,
    charges: charged.length,
    refunds: charged.filter((id) => refunded.has(id)).length,
    refundsOwed: owed.length,
    chargedWithoutRecord,
    recordsWithoutCharge,
    chargesOffSession,
    recordsOffSession: Number(off.n),
    eventsPublished: events.published ?? 0,
    eventsPending: events.pending ?? 0,
    session: session ? `${session.status}${session.expired ? ' (expired)' : ''}` : 'missing',
    depositMicros: session?.deposit ?? null,
    balanceMicros: bal?.b ?? null,
    expectedBalanceMicros: (DEPOSIT_MICROS - netMicros).toString(),
    sessionUsedMicros: session?.used ?? null,
    sessionCalls: session ? Number(session.calls) : null,
    agentSpentMicros: spent?.s ?? null,
    expectedUsedMicros: netMicros.toString(),
    netCharges: netCharged.length,
  };
}

async function profileD(targets: Record<TargetName, Target>): Promise<ProfileSummary[]> {
  const names = ['gateway', 'metering', 'wallets', 'identity'];
  for (const n of names) procs.signal(n, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 300));
  record(await closedLoop(targets.D, { connections: CFG.connections, seconds: CFG.seconds, timeoutMs: CFG.timeoutMs, maxRequests: CFG.maxRequestsPerRun }), 'profile');
  for (const n of names) procs.signal(n, 'SIGUSR2');
  const out: ProfileSummary[] = [];
  for (const n of names) {
    const file = path.join(runDir, `${n}.cpuprofile`);
    const until = Date.now() + 20_000;
    while (!existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (existsSync(file)) out.push(summarizeProfile(n, file));
    else log(`no CPU profile from ${n}`);
  }
  await drain('D');
  return out;
}

/** BENCH_TARGETS without D: a V8 profile of the gateway alone during one more closed loop of a G target. */
async function profileGateway(t: Target): Promise<ProfileSummary[]> {
  procs.signal('gateway', 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 300));
  record(await closedLoop(t, { connections: CFG.connections, seconds: CFG.seconds, timeoutMs: CFG.timeoutMs, maxRequests: CFG.maxRequestsPerRun }), 'profile');
  procs.signal('gateway', 'SIGUSR2');
  const file = path.join(runDir, 'gateway.cpuprofile');
  const until = Date.now() + 20_000;
  while (!existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (existsSync(file)) return [summarizeProfile(`gateway (${t.name})`, file, 20)];
  log('no CPU profile from gateway');
  return [];
}

async function main() {
  const startedAt = new Date();
  const load0 = os.loadavg();
  log(`run folder ${path.relative(ROOT, runDir)}; ${CFG.rounds} rounds × ${CFG.seconds} s, ${CFG.connections} connections, warm-up ${CFG.warmupSeconds} s, Kafka ${CFG.kafka}`);
  // Each service would create its database at start; doing it first fails early on a PostgreSQL that refuses.
  for (const n of usedDbs) await ensureDatabase(dbUrl[n]);
  const { ports, secrets } = await startAll();
  log(`processes ready: ${[...procs.all.values()].map((p) => `${p.name}:${p.port}`).join(' ')}`);
  const { targets, serviceId, payers } = await setUp(ports, secrets.BOOTSTRAP_ADMIN_KEY);
  if (FULL) log(`service ${serviceId} at ${PRICE} USDC per call, paid from payment sessions of ${DEPOSIT} USDC (agent ${payers!.D.agentId} for D, ${payers!["D'"].agentId} for D')`);
  if (CFG.hold) {
    const file = path.join(runDir, 'targets.json');
    const list = Object.values(targets).map((t) => ({ name: t.name, url: `http://127.0.0.1:${t.port}${t.path}`, method: t.method, headers: t.headers, body: t.body.toString() }));
    writeFileSync(file, JSON.stringify(list, null, 1));
    log(`BENCH_HOLD=1: targets in ${path.relative(ROOT, file)}; Ctrl-C stops the processes`);
    await new Promise(() => undefined);
  }

  const order: TargetName[] = [...CFG.targets];
  // The process each target's requests enter first: its CPU per answer is the figure least disturbed by other load on the machine.
  const frontOf: Record<TargetName, string> = { A: 'upstream', B: 'bare-proxy', C: 'express-proxy', D: 'gateway', "D'": 'gateway-inproc', G0: 'gateway', G1: 'gateway', G2: 'gateway' };
  const frontCpu: Partial<Record<TargetName, { seconds: number; requests: number }>> = {};
  const cpuComponents = components({
    gateway: () => procs.pid('gateway'),
    identity: () => procs.pid('identity'),
    wallets: () => procs.pid('wallets'),
    metering: () => procs.pid('metering'),
    'gateway (in-process bus)': () => procs.pid('gateway-inproc'),
    'wallets (in-process bus)': () => procs.pid('wallets-inproc'),
    'metering (in-process bus)': () => procs.pid('metering-inproc'),
    upstream: () => procs.pid('upstream'),
  });
  const cpu: Record<'D' | "D'", { seconds: Record<string, number>; requests: number }> = { D: { seconds: {}, requests: 0 }, "D'": { seconds: {}, requests: 0 } };
  const outbox: Record<'D' | "D'", { pendingAtEnd: number; drainMs: number }[]> = { D: [], "D'": [] };
  const closed = (t: Target, seconds: number) => closedLoop(t, { connections: CFG.connections, seconds, timeoutMs: CFG.timeoutMs, maxRequests: CFG.maxRequestsPerRun });

  // What the fleet burns with no load at all (outbox polls, Kafka consumers, heartbeats): the floor under every figure.
  const idle0 = snapshot(cpuComponents);
  await new Promise((r) => setTimeout(r, 3_000));
  const idle1 = snapshot(cpuComponents);
  const idleShare = Object.fromEntries(Object.entries(cpuBetween(idle0, idle1)).map(([k, v]) => [k, v / ((idle1.at - idle0.at) / 1000)]));

  if (CFG.warmupSeconds > 0) {
    log(`warm-up: ${CFG.warmupSeconds} s closed loop per target`);
    for (const n of order) {
      record(await closed(targets[n], CFG.warmupSeconds), 'warmup');
      if (n === 'D' || n === "D'") await drain(n);
    }
  }

  // Rotating the order each round spreads drift (other load on the machine, GC, autovacuum) across targets.
  const rotated = (r: number) => order.map((_, i) => order[(i + r) % order.length]);
  for (let r = 0; r < CFG.rounds; r++) {
    for (const n of rotated(r)) {
      const before = n === 'D' || n === "D'" ? snapshot(cpuComponents) : null;
      const frontPid = procs.pid(frontOf[n])!;
      const front0 = cpuSecondsOf(frontPid);
      const res = record(await closed(targets[n], CFG.seconds), 'closed');
      const f = (frontCpu[n] ??= { seconds: 0, requests: 0 });
      f.seconds += cpuSecondsOf(frontPid) - front0;
      f.requests += res.ok;
      if (before && (n === 'D' || n === "D'")) {
        addCpu(cpu[n].seconds, cpuBetween(before, snapshot(cpuComponents)));
        cpu[n].requests += res.ok;
        outbox[n].push(await drain(n));
      }
      log(`closed round ${r + 1}/${CFG.rounds} ${n.padEnd(2)} ${res.throughput.toFixed(0).padStart(6)} req/s  errors ${res.errors}`);
    }
  }
  const dMax = median(runs.filter((x) => x.mode === 'closed' && x.target === 'D').map((x) => x.throughput));
  const rate = CFG.openRate ?? (FULL ? Math.max(1, Math.round(dMax * CFG.loadFraction)) : 100);
  log(CFG.openRate || !FULL ? `open model at ${rate} req/s` : `open model at ${rate} req/s (${Math.round(CFG.loadFraction * 100)}% of D's median maximum ${dMax.toFixed(0)} req/s)`);
  for (let r = 0; r < CFG.rounds; r++) {
    for (const n of rotated(r)) {
      const res = record(await openLoop(targets[n], { rate, seconds: CFG.seconds, timeoutMs: CFG.timeoutMs, maxSockets: CFG.openMaxSockets }), 'open');
      if (n === 'D' || n === "D'") outbox[n].push(await drain(n));
      const l = summarize(res.latencies);
      log(`open round ${r + 1}/${CFG.rounds} ${n.padEnd(2)} p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  errors ${res.errors}`);
    }
  }

  const frontCpuUs = Object.fromEntries(Object.entries(frontCpu).map(([n, f]) => [n, f.requests ? (f.seconds / f.requests) * 1e6 : NaN]));
  let profiles: ProfileSummary[] = [];
  if (CFG.profile && FULL) {
    log(`CPU profile of D's processes during one more ${CFG.seconds} s closed loop (not counted in the figures)`);
    profiles = await profileD(targets);
  } else if (CFG.profile && WANT_GATEWAY) {
    const n = want('G1') ? 'G1' : 'G0';
    log(`CPU profile of the gateway during one more ${CFG.seconds} s closed loop of ${n} (not counted in the figures)`);
    profiles = await profileGateway(targets[n]);
  }
  if (!FULL) {
    const { text, markdown } = renderSubset({
      machine: machineInfo(startedAt, load0),
      config: { ...CFG, pgUrl: undefined, redisUrl: undefined, outDir: undefined },
      openRate: rate,
      targets: order,
      closed: Object.fromEntries(order.map((n) => [n, runs.filter((x) => x.mode === 'closed' && x.target === n).map((x) => x.throughput)])),
      open: Object.fromEntries(order.map((n) => [n, summarize(concat(runs.filter((x) => x.mode === 'open' && x.target === n).map((x) => x.latencies)))])),
      errors: Object.fromEntries(order.map((n) => [n, runs.filter((x) => x.target === n).reduce((s, x) => s + x.errors, 0)])),
      frontCpuUs,
      profiles,
    });
    console.log(`\n${text}`);
    // A partial run never replaces bench/results/latest.md.
    writeFileSync(path.join(runDir, 'results.md'), markdown);
    log(`wrote ${path.relative(ROOT, path.join(runDir, 'results.md'))}`);
    return;
  }

  const integrity = { D: await checkIntegrity('D', targets.D, payers!.D), "D'": await checkIntegrity("D'", targets["D'"], payers!["D'"]) };
  const results: BenchResults = {
    machine: machineInfo(startedAt, load0),
    config: {
      ...CFG,
      pgUrl: undefined,
      redisUrl: undefined,
      outDir: undefined,
      price: PRICE,
      keyRateLimitPerMin: KEY_RATE_LIMIT,
      ipRateLimitPerMin: 1_000_000,
      payment: 'session',
      sessionDeposit: DEPOSIT,
      sessionSeconds: SESSION_SECONDS,
      agentPolicy: AGENT_POLICY,
    },
    openRate: rate,
    runs: runs.map((x) => ({ target: x.target, mode: x.mode, seconds: x.seconds, sent: x.sent, ok: x.ok, errors: x.errors, failures: x.failures, throughput: x.throughput, rate: x.rate })),
    closed: Object.fromEntries(order.map((n) => [n, runs.filter((x) => x.mode === 'closed' && x.target === n).map((x) => x.throughput)])) as Record<TargetName, number[]>,
    open: Object.fromEntries(
      order.map((n) => {
        const rs = runs.filter((x) => x.mode === 'open' && x.target === n);
        return [n, { latency: summarize(concat(rs.map((x) => x.latencies))), sendLagP99: summarize(concat(rs.map((x) => x.sendLag!))).p99 }];
      }),
    ) as BenchResults['open'],
    errors: Object.fromEntries(
      order.map((n) => {
        const rs = runs.filter((x) => x.target === n);
        const failures: Record<string, number> = {};
        for (const x of rs) for (const [k, v] of Object.entries(x.failures)) failures[k] = (failures[k] ?? 0) + v;
        return [n, { closed: rs.filter((x) => x.mode === 'closed').reduce((s, x) => s + x.errors, 0), open: rs.filter((x) => x.mode === 'open').reduce((s, x) => s + x.errors, 0), failures }];
      }),
    ) as BenchResults['errors'],
    idleCpuShare: idleShare,
    otherFailures,
    cpuPerRequestUs: Object.fromEntries(
      (['D', "D'"] as const).map((n) => [n, Object.fromEntries(Object.entries(cpu[n].seconds).map(([k, s]) => [k, cpu[n].requests ? (s / cpu[n].requests) * 1e6 : 0]))]),
    ) as BenchResults['cpuPerRequestUs'],
    outbox,
    integrity,
    profiles,
    frontCpuUs,
  };
  if (CFG.targets.length < TARGETS.length) {
    // A partial run with D (BENCH_TARGETS=D, say): no ratios to other targets; the figures, CPU per call and integrity as JSON.
    const brief = {
      closed: results.closed,
      open: Object.fromEntries(Object.entries(results.open).map(([n, o]) => [n, { p50: o.latency.p50, p90: o.latency.p90, p99: o.latency.p99, count: o.latency.count }])),
      cpuPerRequestUs: Object.fromEntries(Object.entries(results.cpuPerRequestUs).map(([n, c]) => [n, Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Math.round(v)]))])),
      integrity: results.integrity,
      errors: results.errors,
    };
    console.log(JSON.stringify(brief, null, 1));
    writeFileSync(path.join(runDir, 'results.json'), JSON.stringify(results, null, 1));
    log(`partial run: wrote ${path.relative(ROOT, path.join(runDir, 'results.json'))} (bench/results is kept for full runs)`);
    return;
  }
  const { text, markdown } = render(results);
  console.log(`\n${text}`);
  mkdirSync(CFG.outDir, { recursive: true });
  writeFileSync(path.join(CFG.outDir, 'latest.md'), markdown);
  writeFileSync(path.join(CFG.outDir, 'latest.raw.json'), JSON.stringify({ ...results, samples: runs.map((x) => ({ target: x.target, mode: x.mode, latencies: Array.from(x.latencies) })) }));
  log(`wrote ${path.relative(ROOT, path.join(CFG.outDir, 'latest.md'))} (raw samples in latest.raw.json, logs and profiles in ${path.relative(ROOT, runDir)})`);
}

function machineInfo(startedAt: Date, load0: number[]): BenchResults['machine'] {
  return {
    date: startedAt.toISOString(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    loadAverageBefore: load0.map((x) => Math.round(x * 100) / 100),
    loadAverageAfter: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    await procs.stopAll().catch(() => undefined);
    for (const c of chains) await c.stop().catch(() => undefined);
    for (const c of sql.values()) await c.end().catch(() => undefined);
    if (!CFG.keep) for (const n of usedDbs) await dropDatabase(dbUrl[n]).catch(() => undefined);
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping the processes this run started`);
    void cleanUp().then(() => process.exit(130));
  });
}

main()
  .then(cleanUp)
  .then(() => process.exit(0))
  .catch(async (err) => {
    console.error(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    console.error(`logs: ${runDir}`);
    await cleanUp();
    process.exit(1);
  });
