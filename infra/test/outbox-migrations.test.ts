import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { OUTBOX_MIGRATION_SQL } from '@platform/events';

/**
 * Each service owns its migrations, so the outbox tables are written out in every one; this
 * keeps those copies identical to the SQL the outbox relay and consumers are written against.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const squash = (sql: string) => sql.replace(/--.*$/gm, '').replace(/\s+/g, ' ').trim();
const services = readdirSync(path.join(ROOT, 'services'));

describe('outbox tables in every service', () => {
  it.each(services)('%s creates outbox_events and processed_events exactly as @platform/events expects', (name) => {
    const dir = path.join(ROOT, 'services', name, 'prisma', 'migrations');
    const all = readdirSync(dir)
      .filter((d) => !d.endsWith('.toml'))
      .sort()
      .map((d) => readFileSync(path.join(dir, d, 'migration.sql'), 'utf8'))
      .join('\n');
    for (const statement of OUTBOX_MIGRATION_SQL.split(';').map(squash).filter(Boolean)) {
      expect(squash(all)).toContain(statement);
    }
    const schema = readFileSync(path.join(ROOT, 'services', name, 'prisma', 'schema.prisma'), 'utf8');
    expect(schema).toMatch(/model OutboxEvent \{[\s\S]*@@map\("outbox_events"\)/);
    expect(schema).toMatch(/model ProcessedEvent \{[\s\S]*@@map\("processed_events"\)/);
  });
});
