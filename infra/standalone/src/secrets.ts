import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Env } from './services';
import { generateSigningKey } from '@platform/auth';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const alnum = (n: number) => Array.from({ length: n }, () => ALNUM[randomInt(ALNUM.length)]).join('');
/** 32 random bytes as 64 hex characters: long enough for every "≥ 32 characters" secret and a valid AES-256 key. */
const key256 = () => randomBytes(32).toString('hex');

/**
 * Secrets the services require and an operator of a bare machine should not have to invent.
 * Each is generated once and kept in the data folder, because the data depends on it (hashed
 * keys, encrypted webhook secrets); an environment variable of the same name always wins.
 * A service that adds a required secret adds it here.
 */
const GENERATED: Record<string, () => string> = {
  INTERNAL_TOKEN_SECRET: key256,
  KEY_HASH_SECRET: key256,
  WEBHOOK_SECRET_KEY: key256,
  /** Wallets: the platform treasury on the chain (deploys the test USDC on the embedded chain, sponsors gas, relays). */
  TREASURY_PRIVATE_KEY: () => `0x${randomBytes(32).toString('hex')}`,
  /** Wallets: AES-256-GCM key of agent private keys at rest. */
  WALLET_MASTER_KEY: key256,
  /** Identity inserts it (hashed) when absent: the operator's first admin key (spec 002 shape). */
  BOOTSTRAP_ADMIN_KEY: () => `acf_${alnum(16)}:sec_${alnum(40)}`,
  /** Identity signs spec 001 user tokens with it (ES256); the gateway fetches the public half. */
  JWT_SIGNING_KEYS: () => JSON.stringify([generateSigningKey()]),
};

export interface Secrets {
  file: string;
  values: Record<string, string>;
}

export function loadSecrets(dataDir: string, env: Env): Secrets {
  const file = path.join(dataDir, 'secrets.json');
  const stored: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  let changed = false;
  for (const [name, generate] of Object.entries(GENERATED)) {
    if (env[name] || stored[name]) continue;
    stored[name] = generate();
    changed = true;
  }
  if (changed) {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }
  const values = Object.fromEntries(Object.keys(GENERATED).map((name) => [name, env[name] || stored[name]]));
  return { file, values };
}
