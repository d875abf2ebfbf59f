import { randomBytes } from 'node:crypto';
import { readConfig } from './config';

const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', INTERNAL_TOKEN_SECRET: 'x'.repeat(32) };

describe('webhooks config', () => {
  it('reads WEBHOOK_SECRET_KEY as 64 hex characters or base64 of 32 bytes', () => {
    const key = randomBytes(32);
    expect(readConfig({ ...base, WEBHOOK_SECRET_KEY: key.toString('hex') }).WEBHOOK_SECRET_KEY.equals(key)).toBe(true);
    expect(readConfig({ ...base, WEBHOOK_SECRET_KEY: key.toString('base64') }).WEBHOOK_SECRET_KEY.equals(key)).toBe(true);
  });

  it('fails naming the variable when the key is missing or not 32 bytes', () => {
    expect(() => readConfig(base)).toThrow(/WEBHOOK_SECRET_KEY/);
    expect(() => readConfig({ ...base, WEBHOOK_SECRET_KEY: 'ab'.repeat(16) })).toThrow(/WEBHOOK_SECRET_KEY: must be 32 bytes/);
  });

  it('defaults to the spec 002 retry policy on port 8108', () => {
    const c = readConfig({ ...base, WEBHOOK_SECRET_KEY: '0'.repeat(64), OUTBOUND_ALLOW_HOSTS: '127.0.0.1, localhost' });
    expect(c).toMatchObject({ PORT: 8108, WEBHOOK_TIMEOUT_MS: 10_000, WEBHOOK_RETRY_BASE_MS: 1_000, WEBHOOK_MAX_RETRIES: 3, OUTBOUND_ALLOW_HOSTS: ['127.0.0.1', 'localhost'] });
  });
});
