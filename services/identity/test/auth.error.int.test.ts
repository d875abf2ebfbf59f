import { Wallet } from 'ethers';
import { Identity, startIdentity, call, asCaller, BOOTSTRAP } from './support';
import { asUser, authSnapshot, newUser, siweSignIn } from './auth-support';

jest.setTimeout(30_000);

const post = (id: Identity, path: string, body?: unknown, headers?: Record<string, string>) => call(id.url, 'POST', path, body, headers);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spec 001 auth refusals: `{"error": …}` with a message that says what to fix, and nothing changed. */
describe('spec 001 auth: bad input and refusals', () => {
  let id: Identity;
  beforeAll(async () => {
    id = await startIdentity('identity_auth_error', { DEVICE_POLL_INTERVAL_S: '1', DEVICE_CODE_TTL_S: '2', SIWE_CHAIN_IDS: '8453,84532' });
  });
  afterAll(() => id.stop());

  it.each([
    ['/auth/register', '{"email": "dev@example.com", "password": '],
    ['/auth/login', 'not json'],
    ['/auth/wallet', '{'],
    ['/auth/device/poll', '[1,'],
    ['/api-keys', '{"name": }'],
  ])('answers bad JSON on %s with 400 {"error"}', async (path, raw) => {
    const before = await authSnapshot(id.svc.db);
    const res = await post(id, path, raw);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'Request body is not valid JSON', request_id: expect.any(String) });
    expect(await authSnapshot(id.svc.db)).toEqual(before);
  });

  it.each([
    ['/auth/register', 'no fields', {}, /email/],
    ['/auth/register', 'a bad email', { email: 'not-an-email', password: 'secure-password-here' }, /email: must be an email address/],
    ['/auth/register', 'a short password', { email: 'dev@example.com', password: 'short' }, /password: must be at least 8 characters/],
    ['/auth/register', 'an oversize password', { email: 'dev@example.com', password: 'x'.repeat(129) }, /password: must be at most 128/],
    ['/auth/register', 'an oversize email', { email: `${'a'.repeat(250)}@example.com`, password: 'secure-password-here' }, /email: must be at most 254/],
    ['/auth/register', 'wrong types', { email: 42, password: true }, /email: must be a string/],
    ['/auth/login', 'no password', { email: 'dev@example.com' }, /password/],
    ['/auth/wallet', 'no signature', { message: 'hello' }, /signature/],
    ['/auth/wallet', 'an oversize message', { message: 'x'.repeat(4097), signature: `0x${'1'.repeat(130)}` }, /message: must be at most 4096/],
    ['/auth/wallet', 'a malformed signature', { message: 'hello', signature: '0xabc123' }, /signature: must be a 0x-prefixed 65-byte hex signature/],
    ['/auth/device/poll', 'a numeric device_code', { device_code: 7 }, /device_code: must be a string/],
    ['/auth/device/poll', 'an oversize device_code', { device_code: 'x'.repeat(129) }, /device_code/],
  ])('refuses %s with %s: 400 and a message naming the field', async (path, _what, body, message) => {
    const before = await authSnapshot(id.svc.db);
    const res = await post(id, path, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect(await authSnapshot(id.svc.db)).toEqual(before);
  });

  it('answers registration of a taken email exactly like a new one, and leaves the account alone', async () => {
    const email = `taken-${Date.now()}@example.com`;
    const first = await post(id, '/auth/register', { email, password: 'first-password' });
    const before = await authSnapshot(id.svc.db);
    const second = await post(id, '/auth/register', { email: email.toUpperCase(), password: 'second-password' });
    expect(second.status).toBe(first.status);
    expect({ ...second.body }).toEqual({ ...first.body });
    expect(await authSnapshot(id.svc.db)).toEqual(before);
    expect((await post(id, '/auth/login', { email, password: 'second-password' })).status).toBe(401);
    expect((await post(id, '/auth/login', { email, password: 'first-password' })).status).toBe(200);
  });

  it('refuses a wrong password and an unknown email with the same 401', async () => {
    const { user } = await newUser(id.url);
    const wrong = await post(id, '/auth/login', { email: user.email, password: 'not-the-password' });
    const unknown = await post(id, '/auth/login', { email: `nobody-${Date.now()}@example.com`, password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.error).toBe('Invalid email or password');
    expect(unknown.body.error).toBe(wrong.body.error);
  });

  describe('Sign-In with Ethereum', () => {
    const wallet = Wallet.createRandom();
    const freshNonce = async () => (await post(id, '/auth/wallet/nonce')).body.nonce as string;

    it('refuses a nonce used twice (replay), an unknown nonce, and a nonce from nowhere', async () => {
      const signed = await siweSignIn(wallet, await freshNonce());
      expect((await post(id, '/auth/wallet', signed)).status).toBe(200);
      const before = await authSnapshot(id.svc.db);
      const replay = await post(id, '/auth/wallet', signed);
      expect(replay.status).toBe(401);
      expect(replay.body.error).toMatch(/Nonce is unknown, expired or already used/);
      const made_up = await post(id, '/auth/wallet', await siweSignIn(wallet, 'abcdefgh12345678'));
      expect(made_up.status).toBe(401);
      expect(await authSnapshot(id.svc.db)).toEqual(before);
    });

    it('accepts only one of two concurrent sign-ins with one nonce', async () => {
      const signed = await siweSignIn(wallet, await freshNonce());
      const both = await Promise.all([post(id, '/auth/wallet', signed), post(id, '/auth/wallet', signed)]);
      expect(both.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it.each([
      ['another domain', { domain: 'evil.example' }, /must be for domain "localhost:8000"/],
      ['another chain', { chainId: 1 }, /chain id 8453 or 84532/],
      ['a passed expiration time', { expirationTime: new Date(Date.now() - 1_000).toISOString() }, /expired/],
      ['an issued-at older than the nonce lifetime', { issuedAt: new Date(Date.now() - 3_600_000).toISOString() }, /too old/],
      ['an issued-at in the future', { issuedAt: new Date(Date.now() + 3_600_000).toISOString() }, /future/],
    ])('refuses a message with %s and keeps the nonce usable', async (_what, over, message) => {
      const nonce = await freshNonce();
      const before = await authSnapshot(id.svc.db);
      const res = await post(id, '/auth/wallet', await siweSignIn(wallet, nonce, over));
      expect(res.status).toBe(401);
      expect(res.body.error).toMatch(message);
      expect(await authSnapshot(id.svc.db)).toEqual(before);
      expect((await post(id, '/auth/wallet', await siweSignIn(wallet, nonce))).status).toBe(200);
    });

    it('refuses a signature by another wallet (401) and a malformed message or signature (400)', async () => {
      const nonce = await freshNonce();
      const { message } = await siweSignIn(wallet, nonce);
      const other = await Wallet.createRandom().signMessage(message);
      const forged = await post(id, '/auth/wallet', { message, signature: other });
      expect(forged.status).toBe(401);
      expect(forged.body.error).toMatch(/does not match the address/);
      const garbled = await post(id, '/auth/wallet', { message: 'indiegent.com wants you to sign in...', signature: other });
      expect(garbled.status).toBe(400);
      expect(garbled.body.error).toMatch(/not a valid EIP-4361/);
      const badSig = await post(id, '/auth/wallet', { message, signature: `0x${'00'.repeat(64)}1f` });
      expect(badSig.status).toBe(400);
      expect(badSig.body.error).toMatch(/signature/);
      expect((await post(id, '/auth/wallet', await siweSignIn(wallet, nonce))).status).toBe(200);
    });
  });

  describe('device flow', () => {
    it('answers slow_down to a poll sooner than the interval', async () => {
      const start = await post(id, '/auth/device');
      expect((await post(id, '/auth/device/poll', { device_code: start.body.device_code })).body.error).toBe('authorization_pending');
      const fast = await post(id, '/auth/device/poll', { device_code: start.body.device_code });
      expect(fast.status).toBe(400);
      expect(fast.body).toEqual({ error: 'slow_down', error_description: expect.any(String), interval: 1 });
    });

    it('answers access_denied after the user denies, and the code cannot be approved then', async () => {
      const start = await post(id, '/auth/device');
      const { token } = await newUser(id.url);
      const denied = await post(id, '/auth/device/deny', { user_code: start.body.user_code }, asUser(token));
      expect(denied.status).toBe(200);
      expect(denied.body).toEqual({ user_code: start.body.user_code, status: 'denied' });
      const approve = await post(id, '/auth/device/approve', { user_code: start.body.user_code }, asUser(token));
      expect(approve.status).toBe(409);
      expect(approve.body.error).toMatch(/already approved or denied/);
      const poll = await post(id, '/auth/device/poll', { device_code: start.body.device_code });
      expect(poll.status).toBe(400);
      expect(poll.body.error).toBe('access_denied');
    });

    it('answers expired_token once the code expired, and refuses to approve it', async () => {
      const start = await post(id, '/auth/device');
      expect(start.body.expires_in).toBe(2);
      await sleep(2_050);
      const poll = await post(id, '/auth/device/poll', { device_code: start.body.device_code });
      expect(poll.status).toBe(400);
      expect(poll.body.error).toBe('expired_token');
      const { token } = await newUser(id.url);
      const late = await post(id, '/auth/device/approve', { user_code: start.body.user_code }, asUser(token));
      expect(late.status).toBe(404);
      expect(late.body.error).toBe('Unknown or expired user code');
    });

    it('answers invalid_grant for an unknown device code', async () => {
      const res = await post(id, '/auth/device/poll', { device_code: 'A'.repeat(40) });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
    });

    it('lets only a signed-in user (JWT) approve: no credential 401, an API key 403, a bad code 400', async () => {
      const start = await post(id, '/auth/device');
      const anonymous = await post(id, '/auth/device/approve', { user_code: start.body.user_code });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toEqual({ error: expect.any(String), request_id: expect.any(String) });
      const { token } = await newUser(id.url);
      const key = await post(id, '/api-keys', { name: 'cli' }, asUser(token));
      const withKey = await post(id, '/auth/device/approve', { user_code: start.body.user_code }, await asCaller(id.url, key.body.key));
      expect(withKey.status).toBe(403);
      const bad = await post(id, '/auth/device/approve', { user_code: 'ABC-12' }, asUser(token));
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/user_code: must look like XYZW-1234/);
      const unknown = await post(id, '/auth/device/approve', { user_code: 'QQQQ-0000' }, asUser(token));
      expect(unknown.status).toBe(404);
    });
  });

  describe('/api-keys', () => {
    it('needs a user: 401 without a principal, 403 for spec 002 keys', async () => {
      const anonymous = await call(id.url, 'GET', '/api-keys');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.error).toEqual(expect.any(String));
      const admin = await call(id.url, 'GET', '/api-keys', undefined, await asCaller(id.url, `${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`));
      expect(admin.status).toBe(403);
      expect(admin.body.error).toMatch(/belong to users/);
    });

    it('refuses a bad name, mode or id with 400 and changes nothing', async () => {
      const { token } = await newUser(id.url);
      const before = await authSnapshot(id.svc.db);
      for (const [body, message] of [
        [{}, /name/],
        [{ name: '   ' }, /name: is required/],
        [{ name: 'x'.repeat(101) }, /name: must be at most 100/],
        [{ name: 'ok', mode: 'prod' }, /mode: must be "live" or "test"/],
      ] as const) {
        const res = await post(id, '/api-keys', body, asUser(token));
        expect(res.status).toBe(400);
        expect(res.body.error).toMatch(message);
      }
      const badId = await call(id.url, 'DELETE', '/api-keys/not-a-uuid', undefined, asUser(token));
      expect(badId.status).toBe(400);
      expect(badId.body.error).toMatch(/id: must be an API key id/);
      expect((await call(id.url, 'GET', '/api-keys?limit=1000', undefined, asUser(token))).status).toBe(400);
      expect(await authSnapshot(id.svc.db)).toEqual(before);
    });

    it("never shows or revokes another user's keys", async () => {
      const alice = await newUser(id.url);
      const bob = await newUser(id.url);
      const key = await post(id, '/api-keys', { name: 'alice key' }, asUser(alice.token));
      const before = await authSnapshot(id.svc.db);
      const steal = await call(id.url, 'DELETE', `/api-keys/${key.body.id}`, undefined, asUser(bob.token));
      expect(steal.status).toBe(404);
      expect(steal.body.error).toBe('API key not found');
      expect((await call(id.url, 'GET', '/api-keys', undefined, asUser(bob.token))).body.api_keys).toEqual([]);
      expect(await authSnapshot(id.svc.db)).toEqual(before);
    });
  });
});
