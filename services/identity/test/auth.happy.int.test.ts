import { createPublicKey } from 'node:crypto';
import { Wallet } from 'ethers';
import { keysFromJwks, tokenHeader, verifyUserToken } from '@platform/auth';
import { Identity, startIdentity, call, serviceHeaders, principalFor, asCaller, TEST_JWT_KEY, stagedEvents } from './support';
import { asUser, newUser, siweSignIn, TOKEN_OPTS } from './auth-support';

jest.setTimeout(30_000);

/** Spec 001 "Auth Endpoints" and "API Keys" against the service, as the gateway forwards them. */
describe('spec 001 auth: the documented flows', () => {
  let id: Identity;
  beforeAll(async () => {
    id = await startIdentity('identity_auth_happy', { DEVICE_POLL_INTERVAL_S: '1' });
  });
  afterAll(() => id.stop());

  it('registers with email and password (argon2id, email normalized) and logs in to a short-lived ES256 token', async () => {
    const reg = await call(id.url, 'POST', '/auth/register', { email: '  Dev@Example.COM ', password: 'secure-password-here' });
    expect(reg.status).toBe(202);
    expect(reg.body).toEqual({ email: 'dev@example.com', message: expect.stringContaining('POST /auth/login') });
    const stored = await id.svc.db.user.findUniqueOrThrow({ where: { email: 'dev@example.com' } });
    expect(stored.passwordHash).toMatch(/^\$argon2id\$/);

    const login = await call(id.url, 'POST', '/auth/login', { email: 'DEV@example.com', password: 'secure-password-here' });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ token: expect.any(String), user: { id: stored.id, email: 'dev@example.com' } });
    expect(tokenHeader(login.body.token)).toEqual({ alg: 'ES256', kid: 'test-k1' });
    const claims = verifyUserToken(login.body.token, createPublicKey(TEST_JWT_KEY.private_key), TOKEN_OPTS);
    expect(claims).toEqual({ sub: stored.id, org_id: null, org_role: null });
    const payload = JSON.parse(Buffer.from(login.body.token.split('.')[1], 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(900);
    expect(payload).toMatchObject({ iss: 'platform-identity', aud: 'platform-api', jti: expect.any(String) });
  });

  it('carries the org and role of the user in the token', async () => {
    const { user } = await newUser(id.url);
    const org = await id.svc.db.organization.create({ data: { name: 'Acme AI Labs', ownerUserId: user.id } });
    await id.svc.db.orgMember.create({ data: { orgId: org.id, userId: user.id, role: 'admin' } });
    const again = await call(id.url, 'POST', '/auth/login', { email: user.email, password: 'secure-password-here' });
    expect(verifyUserToken(again.body.token, createPublicKey(TEST_JWT_KEY.private_key), TOKEN_OPTS)).toEqual({ sub: user.id, org_id: org.id, org_role: 'admin' });
  });

  it('publishes the verification keys at /internal/jwks, for services only', async () => {
    const jwks = await call(id.url, 'GET', '/internal/jwks', undefined, serviceHeaders());
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys).toEqual([{ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: 'test-k1', alg: 'ES256', use: 'sig' }]);
    expect(JSON.stringify(jwks.body)).not.toMatch(/"d"/);
    const { token } = await newUser(id.url);
    expect(verifyUserToken(token, keysFromJwks(jwks.body).get('test-k1')!, TOKEN_OPTS)).not.toBeNull();
    expect((await call(id.url, 'GET', '/internal/jwks')).status).toBe(403);
  });

  it('signs in with Ethereum: nonce, signed EIP-4361 message, user created on first sign-in only', async () => {
    const wallet = Wallet.createRandom();
    const nonce = await call(id.url, 'POST', '/auth/wallet/nonce');
    expect(nonce.status).toBe(201);
    expect(nonce.body).toEqual({ nonce: expect.stringMatching(/^[A-Za-z0-9]{24}$/), domain: 'localhost:8000', chain_id: 8453, expires_at: expect.any(String) });

    const first = await call(id.url, 'POST', '/auth/wallet', await siweSignIn(wallet, nonce.body.nonce));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ token: expect.any(String), user: { id: expect.any(String), wallet_address: wallet.address } });
    expect(Object.keys(first.body.user)).toEqual(['id', 'wallet_address']);

    const next = await call(id.url, 'POST', '/auth/wallet/nonce');
    const second = await call(id.url, 'POST', '/auth/wallet', await siweSignIn(wallet, next.body.nonce));
    expect(second.status).toBe(200);
    expect(second.body.user.id).toBe(first.body.user.id);
    expect(await id.svc.db.user.count({ where: { walletAddress: wallet.address } })).toBe(1);
  });

  it('runs the device flow: start, pending, approve by a signed-in user, token once', async () => {
    const start = await call(id.url, 'POST', '/auth/device');
    expect(start.status).toBe(200);
    expect(start.body).toEqual({
      device_code: expect.stringMatching(/^[A-Za-z0-9]{40}$/),
      user_code: expect.stringMatching(/^[A-Z]{4}-[0-9]{4}$/),
      verification_url: 'http://localhost:8000/device',
      expires_in: 600,
      interval: 1,
    });
    // Stored only as keyed hashes.
    const row = await id.svc.db.deviceAuthorization.findFirstOrThrow({ orderBy: { createdAt: 'desc' } });
    expect(JSON.stringify(row)).not.toContain(start.body.device_code);
    expect(JSON.stringify(row)).not.toContain(start.body.user_code);

    const pending = await call(id.url, 'POST', '/auth/device/poll', { device_code: start.body.device_code });
    expect(pending.status).toBe(400);
    expect(pending.body).toEqual({ error: 'authorization_pending', error_description: expect.any(String) });

    const { token, user } = await newUser(id.url);
    const approved = await call(id.url, 'POST', '/auth/device/approve', { user_code: start.body.user_code.toLowerCase().replace('-', ' ') }, asUser(token));
    expect(approved.status).toBe(200);
    expect(approved.body).toEqual({ user_code: start.body.user_code, status: 'approved' });

    await new Promise((r) => setTimeout(r, 1_050));
    const granted = await call(id.url, 'POST', '/auth/device/poll', { device_code: start.body.device_code });
    expect(granted.status).toBe(200);
    expect(granted.body).toEqual({ token: expect.any(String) });
    expect(verifyUserToken(granted.body.token, createPublicKey(TEST_JWT_KEY.private_key), TOKEN_OPTS)?.sub).toBe(user.id);
    await new Promise((r) => setTimeout(r, 1_050));
    const twice = await call(id.url, 'POST', '/auth/device/poll', { device_code: start.body.device_code });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toBe('invalid_grant');
  });

  it('creates ig_live_ and ig_test_ keys shown once, lists metadata, revokes with key.revoked', async () => {
    const { token, user } = await newUser(id.url);
    const live = await call(id.url, 'POST', '/api-keys', { name: 'CI/CD Pipeline' }, asUser(token));
    expect(live.status).toBe(201);
    expect(live.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'CI/CD Pipeline', key: expect.stringMatching(/^ig_live_[A-Za-z0-9]{40}$/) });
    const test = await call(id.url, 'POST', '/api-keys', { name: 'testnet bot', mode: 'test' }, asUser(token));
    expect(test.body.key).toMatch(/^ig_test_[A-Za-z0-9]{40}$/);

    // The key is a credential of its user, and may itself manage the user's keys.
    expect(await principalFor(id.url, live.body.key)).toEqual({ owner_id: user.id, kind: 'ig_key', key_id: live.body.id, roles: ['user'], org_id: null, rate_limit: 60, agent_id: null });
    const list = await call(id.url, 'GET', '/api-keys', undefined, await asCaller(id.url, live.body.key));
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      api_keys: [
        { id: test.body.id, name: 'testnet bot', prefix: test.body.key.slice(0, 12), created_at: expect.any(String), revoked: false, revoked_at: null },
        { id: live.body.id, name: 'CI/CD Pipeline', prefix: live.body.key.slice(0, 12), created_at: expect.any(String), revoked: false, revoked_at: null },
      ],
      limit: 50,
      offset: 0,
    });
    expect(JSON.stringify(list.body)).not.toContain(live.body.key);
    const row = await id.svc.db.apiKey.findUniqueOrThrow({ where: { id: live.body.id } });
    expect(JSON.stringify(row)).not.toContain(live.body.key.slice(8));

    const del = await call(id.url, 'DELETE', `/api-keys/${live.body.id}`, undefined, asUser(token));
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id: live.body.id, revoked: true });
    const again = await call(id.url, 'DELETE', `/api-keys/${live.body.id}`, undefined, asUser(token));
    expect(again.body).toEqual({ id: live.body.id, revoked: true });
    const revokedEvents = (await stagedEvents(id.svc.db, 'key.revoked')).filter((e) => e.data.key_id === live.body.id);
    expect(revokedEvents).toHaveLength(1);
    expect(revokedEvents[0].data).toEqual({ key_id: live.body.id, owner_id: user.id, family: 'ig' });
    expect((await call(id.url, 'POST', '/internal/credentials/verify', { credential: live.body.key }, serviceHeaders())).status).toBe(401);
    const after = await call(id.url, 'GET', '/api-keys', undefined, asUser(token));
    expect(after.body.api_keys.find((k: { id: string }) => k.id === live.body.id)).toMatchObject({ revoked: true, revoked_at: expect.any(String) });
  });
});
