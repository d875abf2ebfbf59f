import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { csv } from '@platform/config';
import { freePort } from '@platform/chain';
import { createLogger } from '@platform/telemetry';
import type { RunningService, ServiceDb } from '@platform/service';
import { startGateway, readConfig as readGatewayConfig } from '@platform/gateway';
import { StandaloneBus } from './bus';
import { pgliteVersion, startEmbeddedDatabases } from './databases';
import { lockDataFolder } from './lock';
import { loadSecrets } from './secrets';
import { startEmbeddedChain } from './chain';
import { Env, envPrefix, FLEET_PORT_OFFSET, ServiceName, SERVICES } from './services';

export { StandaloneBus } from './bus';
export { SERVICE_NAMES } from './services';
export type { ServiceName, Env } from './services';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DEFAULT_DATA_DIR = path.join(REPO_ROOT, '.data', 'standalone');
const LOOPBACK = 'localhost,127.0.0.1,::1';
/**
 * For a service on an embedded database, which serves one connection at a time (databases.ts):
 * wallets' ledger bulkhead lets one transaction run and queues the rest in front of the pool,
 * and the outbox relay polls instead of holding a second connection to LISTEN on.
 */
const EMBEDDED_DB_DEFAULTS: Env = { PG_POOL_MAX: '1', LEDGER_TX_CONCURRENCY: '1', OUTBOX_LISTEN: 'false', USAGE_WRITER_POOL: '0', LEDGER_DIRECT_POOL: '0' };

export interface StandaloneOptions {
  /** Default: STANDALONE_DATA_DIR, else <repo>/.data/standalone. */
  dataDir?: string;
  /** The configuration to read; default process.env. */
  env?: Env;
  /**
   * The gateway's port; services listen at basePort + 101..108 as in the fleet (8000, 8101..).
   * 0 picks free ports for everything. Default: PORT, else 8000. <SERVICE>_PORT overrides one.
   */
  basePort?: number;
  /** Where the initialised PGlite directory copied for each new database is cached. */
  templateDir?: string;
}

export interface StandaloneService {
  name: ServiceName;
  url: string;
  /** 'embedded': a PGlite database in the data folder; 'external': <SERVICE>_DATABASE_URL. */
  database: 'embedded' | 'external';
  running: RunningService<ServiceDb>;
}

export interface Standalone {
  url: string;
  dataDir: string;
  secretsFile: string;
  /** The shared in-process bus; undefined when KAFKA_BROKERS is set. */
  bus?: StandaloneBus;
  services: Record<ServiceName, StandaloneService>;
  /** Things an operator must know (printed loudly by main.ts). */
  warnings: string[];
  /** The chain wallets uses: the embedded Hardhat node, or the one CHAIN_RPC_URL names; null when off. */
  chain: { rpcUrl: string; usdcAddress: string | null; embedded: boolean } | null;
  /** The embedded chain's journal (`<data>/chain/journal.jsonl`) and how many calls it replayed at start; null when not embedded. */
  chainJournal: { file: string; replayed: number } | null;
  /** Milliseconds spent in each start-up phase. */
  timings: Record<'template' | 'databases' | 'services' | 'gateway' | 'total', number>;
  stop(): Promise<void>;
}

/**
 * The whole platform in one process (DESIGN rule 5): the same services and gateway as the
 * fleet, started through the same startService, with embedded parts wherever no real one is
 * configured — a PGlite database per service, one in-process bus, the gateway's in-memory
 * rate-limit store.
 */
export async function startStandalone(options: StandaloneOptions = {}): Promise<Standalone> {
  const began = Date.now();
  const base = options.env ?? process.env;
  const dataDir = path.resolve(options.dataDir ?? base.STANDALONE_DATA_DIR ?? DEFAULT_DATA_DIR);
  const templateDir = options.templateDir ?? path.join(REPO_ROOT, '.data', `pglite-template-${pgliteVersion()}`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logger = createLogger('standalone', base.LOG_LEVEL ?? 'warn');

  const cleanups: (() => Promise<void> | void)[] = [lockDataFolder(dataDir)];
  const cleanUp = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        logger.error({ err }, 'stopping a part of the standalone platform failed');
      }
    }
  };

  try {
    const secrets = loadSecrets(dataDir, base);
    const ports = await choosePorts(base, options.basePort);
    const urlOf = (port: number) => `http://127.0.0.1:${port}`;
    const warnings: string[] = [];

    // An embedded chain (Hardhat node + test USDC + faucet) unless CHAIN_RPC_URL names one or STANDALONE_CHAIN=off.
    const chain = base.CHAIN_RPC_URL || base.STANDALONE_CHAIN === 'off' ? null : await startEmbeddedChain(base, secrets.values.TREASURY_PRIVATE_KEY, dataDir);
    if (chain) cleanups.push(() => chain.stop());
    for (const w of chain?.warnings ?? []) {
      logger.error({ journal: chain!.journalFile }, w);
      warnings.push(w);
    }
    const chainEnv: Env = chain ? { CHAIN_RPC_URL: chain.rpcUrl, CHAIN_ID: String(chain.chainId), USDC_ADDRESS: chain.usdcAddress, DEV_FAUCET: 'true' } : {};

    // Defaults every part sees unless the environment says otherwise.
    const defaults: Env = {
      ...secrets.values,
      LOG_LEVEL: 'warn',
      DEV_ROUTES: 'true',
      OUTBOUND_ALLOW_HOSTS: LOOPBACK,
      PUBLIC_BASE_URL: `http://localhost:${ports.gateway}`,
      ...Object.fromEntries(SERVICES.map((s) => [`${envPrefix(s.name)}_URL`, urlOf(ports[s.name])])),
      ...chainEnv,
    };
    const env: Env = { ...defaults, ...definedOnly(base) };
    if (!base.OUTBOUND_ALLOW_HOSTS) {
      warnings.push(`OUTBOUND_ALLOW_HOSTS=${LOOPBACK}: the proxy, webhooks and endpoint checks may call loopback addresses in standalone mode. Set OUTBOUND_ALLOW_HOSTS to change it.`);
    }
    if (env.DEV_ROUTES === 'true' && !base.DEV_ROUTES) {
      warnings.push('DEV_ROUTES=true: development routes (e.g. POST /dev/balance/fund) are mounted. Set DEV_ROUTES=false to remove them.');
    }

    const timings = { template: 0, databases: 0, services: 0, gateway: 0, total: 0 };
    const embedded = SERVICES.filter((s) => !base[`${envPrefix(s.name)}_DATABASE_URL`]);
    let databaseUrls: Record<string, string> = {};
    if (embedded.length) {
      const databases = await startEmbeddedDatabases({
        dirs: Object.fromEntries(embedded.map((s) => [s.name, path.join(dataDir, 'pglite', s.name)])),
        templateDir,
        sharedBuffers: base.STANDALONE_PG_SHARED_BUFFERS,
        threads: base.STANDALONE_DB_THREADS ? Number(base.STANDALONE_DB_THREADS) : undefined,
      });
      cleanups.push(() => databases.stop());
      databaseUrls = databases.urls;
      timings.template = databases.timings.template;
      timings.databases = databases.timings.open;
    }

    const kafka = csv.parse(base.KAFKA_BROKERS).length > 0;
    const bus = kafka ? undefined : new StandaloneBus({ onError: (msg, err) => logger.warn({ err: String(err) }, msg) });
    if (bus) cleanups.push(() => bus.close());
    let openRelays!: () => void;
    const relaysMayStart = new Promise<void>((resolve) => (openRelays = resolve));

    let t = Date.now();
    const started = await Promise.allSettled(
      SERVICES.map(async (s) => {
        const embeddedUrl = databaseUrls[s.name];
        const running = await s.start({
          env: {
            ...(embeddedUrl ? EMBEDDED_DB_DEFAULTS : {}),
            ...env,
            PORT: String(ports[s.name]),
            // Services are reached through the gateway only; HOST (e.g. 0.0.0.0 in a container) is the gateway's.
            HOST: '127.0.0.1',
            DATABASE_URL: embeddedUrl ?? base[`${envPrefix(s.name)}_DATABASE_URL`],
          },
          inProcessBus: bus,
          embeddedDatabase: embeddedUrl !== undefined,
          holdOutbox: bus ? relaysMayStart : undefined,
        });
        return { name: s.name, url: running.url, database: embeddedUrl ? 'embedded' : 'external', running } as StandaloneService;
      }),
    );
    const services = {} as Record<ServiceName, StandaloneService>;
    for (const r of started) if (r.status === 'fulfilled') services[r.value.name] = r.value;
    const stopServices = async () => {
      // The bus settles first: an event already published but not yet consumed lives only in memory.
      if (bus && !(await bus.settle())) logger.warn({ inFlight: bus.inFlight }, 'stopping with events still in flight on the in-process bus');
      await Promise.all(Object.values(services).map((s) => s.running.stop()));
    };
    cleanups.push(stopServices);
    const failed = started.flatMap((r, i) => (r.status === 'rejected' ? [`${SERVICES[i].name}: ${errorText(r.reason)}`] : []));
    if (failed.length) throw new Error(`services failed to start:\n  ${failed.join('\n  ')}`);
    timings.services = Date.now() - t;

    t = Date.now();
    // REDIS_URL when set, else the gateway's in-memory rate-limit store.
    const gateway = await startGateway(readGatewayConfig({ ...env, PORT: String(ports.gateway) }), { inProcessBus: bus });
    cleanups.push(() => gateway.stop());
    timings.gateway = Date.now() - t;
    // Every consumer (the gateway's key.revoked one too) has subscribed: events may flow.
    openRelays();
    timings.total = Date.now() - began;

    let stopping: Promise<void> | undefined;
    return {
      url: `http://localhost:${gateway.port}`,
      dataDir,
      secretsFile: secrets.file,
      bus,
      services,
      warnings,
      chain: chain ? { rpcUrl: chain.rpcUrl, usdcAddress: chain.usdcAddress, embedded: true } : base.CHAIN_RPC_URL ? { rpcUrl: base.CHAIN_RPC_URL, usdcAddress: base.USDC_ADDRESS ?? null, embedded: false } : null,
      chainJournal: chain ? { file: chain.journalFile, replayed: chain.replayed } : null,
      timings,
      stop: () => (stopping ??= cleanUp()),
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

async function choosePorts(env: Env, basePort?: number): Promise<Record<ServiceName | 'gateway', number>> {
  const gatewayPort = basePort ?? (env.PORT ? Number(env.PORT) : 8000);
  if (!Number.isInteger(gatewayPort) || gatewayPort < 0 || gatewayPort > 65535) throw new Error(`PORT: "${env.PORT}" is not a port number`);
  const ports = { gateway: gatewayPort === 0 ? await freePort() : gatewayPort } as Record<ServiceName | 'gateway', number>;
  for (const s of SERVICES) {
    const own = env[`${envPrefix(s.name)}_PORT`];
    ports[s.name] = own ? Number(own) : gatewayPort === 0 ? await freePort() : gatewayPort + FLEET_PORT_OFFSET[s.name];
  }
  return ports;
}


/** An empty variable means "not set" here, as `FOO= npm start` usually intends. */
function definedOnly(env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

