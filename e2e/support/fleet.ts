import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { freshDatabase, TEST_REDIS_URL, TEST_SECRET, eventually } from '@platform/testing';
import { generateSigningKey } from '@platform/auth';
import { freePort } from '@platform/chain';

export { freePort };

/** Identity's user-token key for the fleet (JWT_SIGNING_KEYS, required by identity). */
const E2E_JWT_KEYS = JSON.stringify([generateSigningKey('e2e-k1')]);

/**
 * Fleet mode for e2e tests: every service and the gateway a separate process (tsx), each
 * with its own PostgreSQL database, Kafka between them and Redis for the gateway.
 */
export const SERVICES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'] as const;
export type ServiceName = (typeof SERVICES)[number] | 'gateway';

const ROOT = path.resolve(__dirname, '..', '..');


export interface Proc {
  name: ServiceName;
  port: number;
  url: string;
  env: Record<string, string>;
  child?: ChildProcess;
}

/**
 * The e2e suite runs its own Kafka broker on free ports in its own data folder, because it
 * stops and restarts the broker to show the outbox bridging an outage; the broker other
 * suites (or another checkout) use is never touched.
 */
export class KafkaBroker {
  readonly dataDir = path.join(ROOT, '.data', 'kafka-e2e');
  port = 0;
  private controllerPort = 0;
  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }
  private run(cmd: string): void {
    execFileSync('bash', [path.join(ROOT, 'scripts', 'infra-kafka.sh'), cmd], {
      stdio: 'inherit',
      env: { ...process.env, KAFKA_PORT: String(this.port), KAFKA_CONTROLLER_PORT: String(this.controllerPort), KAFKA_DATA_DIR: this.dataDir, KAFKA_BROKERS: this.brokers },
    });
  }
  async create(): Promise<void> {
    this.port = await freePort();
    this.controllerPort = await freePort();
    rmSync(this.dataDir, { recursive: true, force: true });
    this.start();
    this.run('topics');
  }
  start(): void {
    this.run('start');
  }
  stop(): void {
    this.run('stop');
  }
}

export class Fleet {
  procs = new Map<ServiceName, Proc>();
  readonly kafka = new KafkaBroker();
  private drops: (() => Promise<void>)[] = [];
  readonly logDir = path.join(ROOT, '.tmp', 'e2e-logs');
  readonly secret = TEST_SECRET;

  get gateway(): string {
    return this.procs.get('gateway')!.url;
  }
  url(name: ServiceName): string {
    return this.procs.get(name)!.url;
  }

  async prepare(extraEnv: Partial<Record<ServiceName, Record<string, string>>> = {}): Promise<void> {
    mkdirSync(this.logDir, { recursive: true });
    await this.kafka.create();
    const ports = new Map<ServiceName, number>();
    for (const s of [...SERVICES, 'gateway'] as ServiceName[]) ports.set(s, await freePort());
    const urlOf = (s: ServiceName) => `http://127.0.0.1:${ports.get(s)}`;
    const common = {
      HOST: '127.0.0.1',
      KAFKA_BROKERS: this.kafka.brokers,
      INTERNAL_TOKEN_SECRET: this.secret,
      LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'info',
      OUTBOX_POLL_MS: '50',
      OTEL_SDK_DISABLED: 'true',
    };
    const serviceUrls = Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_URL`, urlOf(s)]));
    for (const s of SERVICES) {
      const db = await freshDatabase(`e2e_${s}`);
      this.drops.push(db.drop);
      const env: Record<string, string> = {
        ...common,
        ...serviceUrls,
        PORT: String(ports.get(s)),
        DATABASE_URL: db.url,
        KEY_HASH_SECRET: 'e2e-key-hash-secret-0123456789abcdefghij',
        JWT_SIGNING_KEYS: E2E_JWT_KEYS,
        WEBHOOK_SECRET_KEY: '0'.repeat(64),
        DEV_ROUTES: 'true',
        OUTBOUND_ALLOW_HOSTS: '127.0.0.1,localhost',
        WEBHOOK_RETRY_BASE_MS: '100',
        ...(extraEnv[s] ?? {}),
      };
      this.procs.set(s, { name: s, port: ports.get(s)!, url: urlOf(s), env });
    }
    this.procs.set('gateway', {
      name: 'gateway',
      port: ports.get('gateway')!,
      url: urlOf('gateway'),
      env: {
        ...common,
        ...serviceUrls,
        PORT: String(ports.get('gateway')),
        REDIS_URL: TEST_REDIS_URL,
        // The suite sends every request from 127.0.0.1; the per-IP limit is exercised in the gateway's own tests.
        RATE_LIMIT_IP_PER_MIN: '100000',
        RATE_LIMIT_IP_BURST: '100000',
        ...(extraEnv.gateway ?? {}),
      },
    });
  }

  start(name: ServiceName): void {
    const p = this.procs.get(name)!;
    const cwd = name === 'gateway' ? path.join(ROOT, 'gateway') : path.join(ROOT, 'services', name);
    const log = createWriteStream(path.join(this.logDir, `${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd,
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    p.child = child;
  }

  async waitReady(name: ServiceName, timeoutMs = 60_000): Promise<void> {
    const p = this.procs.get(name)!;
    const path_ = name === 'gateway' ? '/health' : '/ready';
    await eventually(async () => {
      if (p.child && p.child.exitCode !== null) throw new Error(`${name} exited with ${p.child.exitCode}; see .tmp/e2e-logs/${name}.log`);
      const r = await fetch(`${p.url}${path_}`).catch(() => undefined);
      return r?.status === 200;
    }, timeoutMs, 200);
  }

  async startAll(): Promise<void> {
    for (const s of [...SERVICES, 'gateway'] as ServiceName[]) this.start(s);
    for (const s of [...SERVICES, 'gateway'] as ServiceName[]) await this.waitReady(s);
  }

  async stop(name: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.procs.get(name)!;
    const child = p.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stop(n)));
    for (const d of this.drops) await d().catch(() => undefined);
    if (this.kafka.port) this.kafka.stop();
  }
}
