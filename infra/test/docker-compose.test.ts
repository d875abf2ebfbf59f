import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * docker-compose.yml is for users (no container engine here), so this test keeps it in step
 * with the code: every service and the gateway are there with a health check, every variable
 * a process requires is set, and nothing set is a variable the process does not read.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { environment?: Record<string, string>; healthcheck?: unknown; depends_on?: unknown; build?: unknown }>;
};

const SERVICES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'];
const PORTS: Record<string, number> = { gateway: 8000, identity: 8101, wallets: 8102, marketplace: 8103, metering: 8104, reputation: 8105, settlements: 8106, runtime: 8107, webhooks: 8108 };

function schemaOf(name: string): z.ZodObject<z.ZodRawShape> {
  const dir = name === 'gateway' ? path.join(ROOT, 'gateway') : path.join(ROOT, 'services', name);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(dir, 'src', 'config.ts')).configSchema;
}

describe('docker-compose.yml', () => {
  it('has the infrastructure: Kafka (KRaft), PostgreSQL, Redis and an OpenTelemetry collector', () => {
    for (const s of ['kafka', 'postgres', 'redis', 'otel-collector']) expect(compose.services[s]).toBeDefined();
    expect(compose.services.kafka.environment?.KAFKA_PROCESS_ROLES).toContain('controller');
    expect(compose.services.kafka.environment?.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
  });

  it.each([...SERVICES, 'gateway'])('runs %s with a health check on its port', (name) => {
    const svc = compose.services[name];
    expect(svc).toBeDefined();
    expect(svc.healthcheck).toBeDefined();
    expect(JSON.stringify(svc.healthcheck)).toContain('/health');
    expect(svc.environment?.PORT).toBe(String(PORTS[name]));
    expect(svc.depends_on).toBeDefined();
  });

  it.each([...SERVICES, 'gateway'])('sets every variable %s requires and only variables it reads', (name) => {
    const schema = schemaOf(name);
    const env = compose.services[name].environment ?? {};
    const read = Object.keys(schema.shape);
    const required = read.filter((k) => !(schema.shape[k] as z.ZodType).safeParse(undefined).success);
    expect(required.filter((k) => !(k in env))).toEqual([]);
    expect(Object.keys(env).filter((k) => !read.includes(k))).toEqual([]);
  });

  it('gives each service its own database', () => {
    const urls = SERVICES.map((s) => compose.services[s].environment?.DATABASE_URL);
    expect(new Set(urls).size).toBe(SERVICES.length);
    SERVICES.forEach((s, i) => expect(urls[i]).toMatch(new RegExp(`/platform_${s}$`)));
    const init = readFileSync(path.join(ROOT, 'infra', 'postgres', 'init-databases.sql'), 'utf8');
    for (const s of SERVICES) expect(init).toContain(`platform_${s}`);
  });
});
