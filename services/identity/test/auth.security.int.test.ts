import { CLIENT_IP_HEADER } from '@platform/auth';
import { Identity, startIdentity, call } from './support';
import { asUser, newUser } from './auth-support';

jest.setTimeout(30_000);

const from = (ip: string) => ({ [CLIENT_IP_HEADER]: ip });
let ipSeq = 0;
const nextIp = () => `10.1.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`;

/** Guessing resistance: failed attempts limited per account and per client address, 429 + Retry-After. */
describe('spec 001 auth: failed-attempt limits', () => {
  let id: Identity;
  const login = (email: string, password: string, ip = nextIp()) => call(id.url, 'POST', '/auth/login', { email, password }, from(ip));

  beforeAll(async () => {
    id = await startIdentity('identity_auth_security', { AUTH_MAX_FAILURES_PER_ACCOUNT: '3', AUTH_MAX_FAILURES_PER_IP: '5', AUTH_FAILURE_WINDOW_S: '60' });
  });
  afterAll(() => id.stop());

  it('locks an account after 3 failures from any address, even for the right password, with Retry-After', async () => {
    const { user } = await newUser(id.url);
    for (let i = 0; i < 3; i++) expect((await login(user.email, 'wrong-password')).status).toBe(401);
    const locked = await login(user.email, 'secure-password-here');
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual({ error: expect.stringMatching(/^Too many failed login attempts; try again in \d+ seconds$/), request_id: expect.any(String) });
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // When the window has passed, the account opens again.
    await id.svc.db.authFailure.update({ where: { bucket: `login-account:${user.email}` }, data: { windowStart: new Date(Date.now() - 61_000) } });
    expect((await login(user.email, 'secure-password-here')).status).toBe(200);
  });

  it('limits unknown emails exactly like existing ones, so the limit reveals nothing', async () => {
    const { user } = await newUser(id.url);
    const unknown = `nobody-${Date.now()}@example.com`;
    const answers: number[][] = [[], []];
    for (let i = 0; i < 4; i++) {
      answers[0].push((await login(user.email, 'wrong-password')).status);
      answers[1].push((await login(unknown, 'wrong-password')).status);
    }
    expect(answers[0]).toEqual([401, 401, 401, 429]);
    expect(answers[1]).toEqual(answers[0]);
  });

  it('lets a success reset the account count', async () => {
    const { user } = await newUser(id.url);
    for (let i = 0; i < 2; i++) expect((await login(user.email, 'wrong-password')).status).toBe(401);
    expect((await login(user.email, 'secure-password-here')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(user.email, 'wrong-password')).status).toBe(401);
    expect((await login(user.email, 'wrong-password')).status).toBe(429);
  });

  it('limits one address to 5 failures across accounts; other addresses are unaffected', async () => {
    const ip = nextIp();
    const victim = await newUser(id.url);
    for (let i = 0; i < 5; i++) expect((await login(`spray-${i}-${Date.now()}@example.com`, 'guess', ip)).status).toBe(401);
    const blocked = await login(victim.user.email, 'secure-password-here', ip);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await login(victim.user.email, 'secure-password-here', nextIp())).status).toBe(200);
  });

  it('does not let parallel guesses slip past the limit', async () => {
    const { user } = await newUser(id.url);
    const results = await Promise.all(Array.from({ length: 10 }, () => login(user.email, 'wrong-password')));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
  });

  it('limits failed spec 002 key validations per address with 429 {"detail"}', async () => {
    const ip = nextIp();
    const key = await call(id.url, 'POST', '/api/v1/keys', { owner_id: `validator-${Date.now()}` });
    const validate = (secret: string, at = ip) => call(id.url, 'POST', '/api/v1/keys/validate', { key_id: key.body.key_id, secret }, from(at));
    // Successes are not counted.
    for (let i = 0; i < 3; i++) expect((await validate(key.body.secret)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await validate(`sec_${'x'.repeat(40)}`)).status).toBe(401);
    const limited = await validate(key.body.secret);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ detail: expect.stringMatching(/^Too many failed validations; try again in \d+ seconds$/), request_id: expect.any(String) });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await validate(key.body.secret, nextIp())).status).toBe(200);
  });

  it('limits a signed-in user guessing device user codes', async () => {
    const { token } = await newUser(id.url);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(id.url, 'POST', '/auth/device/approve', { user_code: `QQQQ-000${i}` }, asUser(token))).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
  });
});
