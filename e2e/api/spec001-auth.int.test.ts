import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { HDNodeWallet, Wallet } from 'ethers';
import { SiweMessage } from 'siwe';
import { generateSigningKey, parseSigningKeys, signUserToken } from '@platform/auth';
import { eventually } from '@platform/testing';
import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Identity signs with k2; k1 is the key before the last rotation and still verifies.
const KEYS = [generateSigningKey('k2'), generateSigningKey('k1')];
const [, previousKey] = parseSigningKeys(JSON.stringify(KEYS));
const TOKEN_OPTS = { issuer: 'platform-identity', audience: 'platform-api' };

/** Spec 001 "Authentication", "Auth Endpoints" and "API Keys": each documented request, through the gateway. */
describe('spec 001 auth through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  let session: { token: string; user: { id: string; email: string } };

  const message = async (wallet: HDNodeWallet, over: Partial<{ domain: string; chainId: number; expirationTime: string }> = {}) => {
    const nonce = await api.post('/auth/wallet/nonce');
    expect(nonce.status).toBe(201);
    const text = new SiweMessage({
      domain: over.domain ?? nonce.body.domain,
      address: wallet.address,
      statement: 'Sign in to IndieGent.',
      uri: platform.url,
      version: '1',
      chainId: over.chainId ?? nonce.body.chain_id,
      nonce: nonce.body.nonce,
      issuedAt: new Date().toISOString(),
      expirationTime: over.expirationTime,
    }).prepareMessage();
    return { message: text, signature: await wallet.signMessage(text) };
  };

  beforeAll(async () => {
    platform = await startPlatform('s001auth', {
      JWT_SIGNING_KEYS: JSON.stringify(KEYS),
      SIWE_CHAIN_IDS: '8453',
      DEVICE_POLL_INTERVAL_S: '1',
      DEVICE_CODE_TTL_S: '4',
      AUTH_MAX_FAILURES_PER_ACCOUNT: '3',
      // The suite's own traffic from 127.0.0.1 must not trip the gateway's per-IP bucket.
      RATE_LIMIT_IP_PER_MIN: '100000',
      RATE_LIMIT_IP_BURST: '100000',
    });
    api = client(platform.url);
    await api.post('/auth/register', { email: 'dev@example.com', password: 'secure-password-here' });
    session = (await api.post('/auth/login', { email: 'dev@example.com', password: 'secure-password-here' })).body;
  });
  afterAll(() => platform?.stop());

  describe('POST /auth/register and POST /auth/login', () => {
    it('registers and logs in with the documented bodies; the token is a JWT with a kid', async () => {
      const reg = await api.post('/auth/register', { email: 'Agent.Builder@Example.com', password: 'secure-password-here' });
      expect(reg.status).toBe(202);
      expect(reg.body).toEqual({ email: 'agent.builder@example.com', message: expect.any(String) });
      const login = await api.post('/auth/login', { email: 'agent.builder@example.com', password: 'secure-password-here' });
      expect(login.status).toBe(200);
      expect(login.body).toEqual({ token: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/), user: { id: expect.any(String), email: 'agent.builder@example.com' } });
      expect(JSON.parse(Buffer.from(login.body.token.split('.')[0], 'base64url').toString())).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k2' });
    });

    it('answers a taken email exactly like a new one, and a wrong password like an unknown email', async () => {
      const again = await api.post('/auth/register', { email: 'dev@example.com', password: 'another-password' });
      const fresh = await api.post('/auth/register', { email: `fresh-${Date.now()}@example.com`, password: 'another-password' });
      expect(again.status).toBe(fresh.status);
      expect(Object.keys(again.body)).toEqual(Object.keys(fresh.body));
      expect(again.body.message).toBe(fresh.body.message);
      const wrong = await api.post('/auth/login', { email: 'dev@example.com', password: 'another-password' });
      const unknown = await api.post('/auth/login', { email: 'ghost@example.com', password: 'another-password' });
      expect([wrong.status, unknown.status]).toEqual([401, 401]);
      expect(wrong.body).toEqual({ error: 'Invalid email or password', request_id: expect.any(String) });
      expect(unknown.body.error).toBe(wrong.body.error);
    });

    it('answers bad input with 400 {"error"}', async () => {
      const badJson = await api.post('/auth/login', '{"email": "dev@example.com",');
      expect(badJson.status).toBe(400);
      expect(badJson.body).toEqual({ error: 'Request body is not valid JSON', request_id: expect.any(String) });
      const missing = await api.post('/auth/register', { email: 'dev2@example.com' });
      expect(missing.status).toBe(400);
      expect(missing.body.error).toMatch(/password/);
      const short = await api.post('/auth/register', { email: 'dev2@example.com', password: 'short' });
      expect(short.body.error).toMatch(/password: must be at least 8 characters/);
    });

    it('limits failed logins per account with 429 {"error"} and Retry-After', async () => {
      await api.post('/auth/register', { email: 'target@example.com', password: 'secure-password-here' });
      for (let i = 0; i < 3; i++) expect((await api.post('/auth/login', { email: 'target@example.com', password: `guess-${i}-password` })).status).toBe(401);
      const limited = await api.post('/auth/login', { email: 'target@example.com', password: 'secure-password-here' });
      expect(limited.status).toBe(429);
      expect(limited.body).toEqual({ error: expect.stringMatching(/^Too many failed login attempts/), request_id: expect.any(String) });
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  });

  describe('POST /auth/wallet (Sign-In with Ethereum)', () => {
    const wallet = Wallet.createRandom();

    it('signs in with a real signed SIWE message and answers {token, user: {id, wallet_address}}', async () => {
      const res = await api.post('/auth/wallet', await message(wallet));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ token: expect.any(String), user: { id: expect.any(String), wallet_address: wallet.address } });
      expect(Object.keys(res.body)).toEqual(['token', 'user']);
      expect((await api.get('/api-keys', bearer(res.body.token))).status).toBe(200);
    });

    it('refuses a replayed nonce', async () => {
      const signed = await message(wallet);
      expect((await api.post('/auth/wallet', signed)).status).toBe(200);
      const replay = await api.post('/auth/wallet', signed);
      expect(replay.status).toBe(401);
      expect(replay.body).toEqual({ error: expect.stringMatching(/Nonce is unknown, expired or already used/), request_id: expect.any(String) });
    });

    it('refuses another domain, another chain and an expired message', async () => {
      for (const [over, why] of [
        [{ domain: 'phishing.example' }, /domain/],
        [{ chainId: 1 }, /chain id 8453/],
        [{ expirationTime: new Date(Date.now() - 1_000).toISOString() }, /expired/],
      ] as const) {
        const res = await api.post('/auth/wallet', await message(wallet, over));
        expect(res.status).toBe(401);
        expect(res.body.error).toMatch(why);
      }
    });

    it('answers a malformed message or signature with 400 {"error"}', async () => {
      const garbled = await api.post('/auth/wallet', { message: 'indiegent.com wants you to sign in...', signature: `0x${'ab'.repeat(65)}` });
      expect(garbled.status).toBe(400);
      expect(garbled.body.error).toMatch(/EIP-4361/);
      const shortSig = await api.post('/auth/wallet', { message: 'indiegent.com wants you to sign in...', signature: '0xabc123' });
      expect(shortSig.status).toBe(400);
      expect(shortSig.body.error).toMatch(/signature/);
    });
  });

  describe('POST /auth/device and POST /auth/device/poll', () => {
    it('runs start -> pending -> slow_down -> approve -> token, and refuses a second poll', async () => {
      const start = await api.post('/auth/device');
      expect(start.status).toBe(200);
      expect(start.body).toEqual({
        device_code: expect.any(String),
        user_code: expect.stringMatching(/^[A-Z]{4}-[0-9]{4}$/),
        verification_url: expect.stringMatching(/^http:\/\/localhost:\d+\/device$/),
        expires_in: 4,
        interval: 1,
      });
      const pending = await api.post('/auth/device/poll', { device_code: start.body.device_code });
      expect(pending.status).toBe(400);
      expect(pending.body).toMatchObject({ error: 'authorization_pending' });
      const fast = await api.post('/auth/device/poll', { device_code: start.body.device_code });
      expect(fast.body).toMatchObject({ error: 'slow_down', interval: 1 });

      const approved = await api.post('/auth/device/approve', { user_code: start.body.user_code }, bearer(session.token));
      expect(approved.status).toBe(200);
      expect(approved.body).toEqual({ user_code: start.body.user_code, status: 'approved' });
      await sleep(1_050);
      const granted = await api.post('/auth/device/poll', { device_code: start.body.device_code });
      expect(granted.status).toBe(200);
      expect(granted.body).toEqual({ token: expect.any(String) });
      // The CLI's token is the approving user's.
      const keys = await api.post('/api-keys', { name: 'from the CLI' }, bearer(granted.body.token));
      expect(keys.status).toBe(201);
      expect((await api.get('/api-keys', bearer(session.token))).body.api_keys.map((k: { id: string }) => k.id)).toContain(keys.body.id);

      await sleep(1_050);
      const twice = await api.post('/auth/device/poll', { device_code: start.body.device_code });
      expect(twice.status).toBe(400);
      expect(twice.body).toMatchObject({ error: 'invalid_grant' });
    });

    it('answers access_denied once the user denies', async () => {
      const start = await api.post('/auth/device');
      const denied = await api.post('/auth/device/deny', { user_code: start.body.user_code }, bearer(session.token));
      expect(denied.body).toEqual({ user_code: start.body.user_code, status: 'denied' });
      const poll = await api.post('/auth/device/poll', { device_code: start.body.device_code });
      expect(poll.status).toBe(400);
      expect(poll.body).toMatchObject({ error: 'access_denied' });
    });

    it('answers expired_token once the code expired', async () => {
      const start = await api.post('/auth/device');
      const expired = await eventually(async () => {
        const poll = await api.post('/auth/device/poll', { device_code: start.body.device_code });
        return poll.body.error === 'expired_token' ? poll : undefined;
      }, 7_000, 1_100);
      expect(expired.status).toBe(400);
      const late = await api.post('/auth/device/approve', { user_code: start.body.user_code }, bearer(session.token));
      expect(late.status).toBe(404);
    });

    it('refuses approval without a signed-in user', async () => {
      const start = await api.post('/auth/device');
      const res = await api.post('/auth/device/approve', { user_code: start.body.user_code });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), request_id: expect.any(String) });
    });
  });

  describe('POST/GET/DELETE /api-keys', () => {
    it('creates a key shown once, lists metadata, and the key works as X-API-Key and Bearer until deleted', async () => {
      const created = await api.post('/api-keys', { name: 'CI/CD Pipeline' }, bearer(session.token));
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), name: 'CI/CD Pipeline', key: expect.stringMatching(/^ig_live_[A-Za-z0-9]{40}$/) });
      const testnet = await api.post('/api-keys', { name: 'testnet', mode: 'test' }, bearer(session.token));
      expect(testnet.body.key).toMatch(/^ig_test_/);

      const list = await api.get('/api-keys', bearer(session.token));
      expect(list.status).toBe(200);
      expect(list.body.api_keys).toContainEqual({ id: created.body.id, name: 'CI/CD Pipeline', prefix: created.body.key.slice(0, 12), created_at: expect.any(String), revoked: false, revoked_at: null });
      expect(JSON.stringify(list.body)).not.toContain(created.body.key);

      const key = created.body.key as string;
      expect((await api.get('/api-keys', { 'x-api-key': key })).status).toBe(200);
      expect((await api.get('/api-keys', bearer(key))).status).toBe(200);

      const del = await api.delete(`/api-keys/${created.body.id}`, bearer(session.token));
      expect(del.status).toBe(200);
      expect(del.body).toEqual({ id: created.body.id, revoked: true });
      const began = Date.now();
      await eventually(async () => (await api.get('/api-keys', { 'x-api-key': key })).status === 401, 1_000, 20);
      await eventually(async () => (await api.get('/api-keys', bearer(key))).status === 401, Math.max(1, 1_000 - (Date.now() - began)), 20);
      const refused = await api.get('/api-keys', bearer(key));
      expect(refused.body).toEqual({ error: 'Invalid or revoked API key', request_id: expect.any(String) });
    });

    it('is for signed-in users only: no credential 401, a spec 002 key 403, another user 404', async () => {
      expect((await api.get('/api-keys')).body).toEqual({ error: 'Missing or invalid API key', request_id: expect.any(String) });
      expect((await api.get('/api-keys', bearer(ADMIN_KEY))).status).toBe(403);
      const mine = await api.post('/api-keys', { name: 'mine' }, bearer(session.token));
      await api.post('/auth/register', { email: 'other@example.com', password: 'secure-password-here' });
      const other = (await api.post('/auth/login', { email: 'other@example.com', password: 'secure-password-here' })).body.token;
      const steal = await api.delete(`/api-keys/${mine.body.id}`, bearer(other));
      expect(steal.status).toBe(404);
      expect((await api.get('/api-keys', { 'x-api-key': mine.body.key })).status).toBe(200);
    });
  });

  describe('JWT verification at the gateway', () => {
    const claims = () => ({ sub: session.user.id, org_id: null, org_role: null });
    const exp = () => Math.floor(Date.now() / 1000) + 300;

    it('accepts a token signed by the previous key (rotated kid)', async () => {
      const old = signUserToken(claims(), previousKey, { ...TOKEN_OPTS, ttlS: 300 });
      expect((await api.get('/api-keys', bearer(old))).status).toBe(200);
    });

    it('refuses alg none, HS256, an expired token and a kid identity never published', async () => {
      const [stranger] = parseSigningKeys(JSON.stringify([generateSigningKey('k9')]));
      const bad = [
        jwt.sign({ ...claims(), exp: exp() }, '', { algorithm: 'none', keyid: 'k2', ...TOKEN_OPTS }),
        jwt.sign({ ...claims(), exp: exp() }, 'a-shared-secret-an-attacker-picked', { algorithm: 'HS256', keyid: 'k2', ...TOKEN_OPTS }),
        signUserToken(claims(), parseSigningKeys(JSON.stringify([KEYS[0]]))[0], { ...TOKEN_OPTS, ttlS: 60, now: new Date(Date.now() - 120_000) }),
        signUserToken({ ...claims(), sub: randomUUID() }, stranger, { ...TOKEN_OPTS, ttlS: 300 }),
      ];
      for (const token of bad) {
        const res = await api.get('/api-keys', bearer(token));
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: 'Invalid or revoked API key', request_id: expect.any(String) });
      }
    });
  });
});
