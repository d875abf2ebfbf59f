import { SiweMessage } from 'siwe';
import type { Signer } from 'ethers';
import { createPublicKey } from 'node:crypto';
import { INTERNAL_PRINCIPAL_HEADER, principalFromUserClaims, signPrincipal, verifyUserToken } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';
import type { Db } from '../src/db/client';
import { TEST_JWT_KEY, call } from './support';

export const TOKEN_OPTS = { issuer: 'platform-identity', audience: 'platform-api' };

/** What the gateway would forward for this user token: the principal it builds, signed. */
export function asUser(token: string): Record<string, string> {
  const claims = verifyUserToken(token, createPublicKey(TEST_JWT_KEY.private_key), TOKEN_OPTS);
  if (!claims) throw new Error('token does not verify');
  return { [INTERNAL_PRINCIPAL_HEADER]: signPrincipal(principalFromUserClaims(claims), TEST_SECRET) };
}

let n = 0;
/** Registers and logs in a fresh user; answers the login reply. */
export async function newUser(url: string, email = `user${++n}-${Date.now()}@example.com`, password = 'secure-password-here') {
  const reg = await call(url, 'POST', '/auth/register', { email, password });
  if (reg.status !== 202) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await call(url, 'POST', '/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  return login.body as { token: string; user: { id: string; email: string } };
}

/** A real EIP-4361 message for the nonce, signed by the wallet. */
export async function siweSignIn(wallet: Signer & { address: string }, nonce: string, over: Partial<{ domain: string; chainId: number; issuedAt: string; expirationTime: string }> = {}) {
  const message = new SiweMessage({
    domain: over.domain ?? 'localhost:8000',
    address: wallet.address,
    statement: 'Sign in to the agent commerce platform.',
    uri: 'http://localhost:8000',
    version: '1',
    chainId: over.chainId ?? 8453,
    nonce,
    issuedAt: over.issuedAt ?? new Date().toISOString(),
    expirationTime: over.expirationTime,
  }).prepareMessage();
  return { message, signature: await wallet.signMessage(message) };
}

/** Row counts of everything spec 001 auth writes, to show a refused request changed nothing. */
export async function authSnapshot(db: Db) {
  return {
    users: await db.user.count(),
    nonces: await db.siweNonce.count(),
    devices: await db.deviceAuthorization.count(),
    decided: await db.deviceAuthorization.count({ where: { status: { not: 'pending' } } }),
    keys: await db.apiKey.count(),
    revoked: await db.apiKey.count({ where: { revokedAt: { not: null } } }),
    outbox: await db.outboxEvent.count(),
  };
}
