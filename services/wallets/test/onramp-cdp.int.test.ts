import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { AppError } from '@platform/http';
import { cdpJwtSigner } from '../src/clients/cdp-jwt';
import { onrampClient, OnrampAuth } from '../src/clients/onramp.client';
import { readConfig } from '../src';
import { TEST_SECRET } from '@platform/testing';
import { startOnrampStandIn, OnrampStandIn } from './onramp-standin';
import { ChainWallets, startWalletsOnChain, asUser, call, uniq } from './chain-helpers';

jest.setTimeout(90_000);

/** A CDP-style key: an EC P-256 secret as the PEM CDP hands out, or Ed25519 as base64(seed ‖ public key). */
function ecKey(): { secret: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { secret: privateKey.export({ type: 'sec1', format: 'pem' }).toString(), publicKey };
}
function ed25519Key(): { secret: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { secret: Buffer.concat([Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url')]).toString('base64'), publicKey };
}

const KEY_NAME = 'organizations/org-test/apiKeys/3f1c7e0a-6b7d-4a8e-9c2f-0d1e2f3a4b5c';
const ADDRESS = '0x1111111111111111111111111111111111111111';

const clientFor = (standIn: OnrampStandIn, auth: OnrampAuth) =>
  onrampClient({ apiUrl: standIn.url, auth, payUrl: 'https://pay.coinbase.com/buy/select-asset', network: 'base', timeoutMs: 5_000 });

describe.each([
  ['EC P-256 (ES256)', ecKey, 'ES256'],
  ['Ed25519 (EdDSA)', ed25519Key, 'EdDSA'],
] as const)('on-ramp session tokens with a CDP %s key', (_name, makeKey, alg) => {
  const key = makeKey();
  let standIn: OnrampStandIn;
  beforeAll(async () => {
    standIn = await startOnrampStandIn({ keyName: KEY_NAME, publicKey: key.publicKey });
  });
  afterAll(() => standIn.close());

  it('sends a fresh JWT per request that the provider verifies, and builds the buy URL from its token', async () => {
    const client = clientFor(standIn, { kind: 'cdp_jwt', signer: cdpJwtSigner({ keyName: KEY_NAME, keySecret: key.secret }) });
    const first = new URL(await client.sessionUrl({ address: ADDRESS, amountUsd: '50' }));
    const second = new URL(await client.sessionUrl({ address: ADDRESS, amountUsd: null }));

    expect(standIn.refused).toEqual([]);
    expect(standIn.accepted).toHaveLength(2);
    const [a, b] = standIn.accepted;
    const host = new URL(standIn.url).host;
    expect(a.header).toEqual({ alg, kid: KEY_NAME, typ: 'JWT', nonce: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(a.claims).toEqual({ iss: 'cdp', sub: KEY_NAME, aud: ['cdp_service'], iat: a.claims.nbf, nbf: expect.any(Number), exp: (a.claims.nbf as number) + 120, uris: [`POST ${host}/onramp/v1/token`] });
    expect(Math.abs((a.claims.nbf as number) - Date.now() / 1000)).toBeLessThan(10);
    expect(b.header.nonce).not.toBe(a.header.nonce);
    expect(a.body).toEqual({ addresses: [{ address: ADDRESS, blockchains: ['base'] }], assets: ['USDC'] });

    expect(first.origin + first.pathname).toBe('https://pay.coinbase.com/buy/select-asset');
    expect(first.searchParams.get('sessionToken')).toMatch(/^ost_[0-9a-f]{24}$/);
    expect(first.searchParams.get('presetFiatAmount')).toBe('50');
    expect(second.searchParams.get('sessionToken')).not.toBe(first.searchParams.get('sessionToken'));
    expect(second.searchParams.has('presetFiatAmount')).toBe(false);
  });

  it('is refused when signed with another key of the same type, and answers 502 without a token', async () => {
    const wrong = makeKey();
    const client = clientFor(standIn, { kind: 'cdp_jwt', signer: cdpJwtSigner({ keyName: KEY_NAME, keySecret: wrong.secret }) });
    const before = standIn.accepted.length;
    const err = await client.sessionUrl({ address: ADDRESS, amountUsd: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'BAD_GATEWAY', message: 'The on-ramp provider refused the session (HTTP 401)' });
    expect(standIn.refused.at(-1)).toBe('bad signature');
    expect(standIn.accepted).toHaveLength(before);
  });

  it('is refused with a plain bearer key, and a token signed for another host or path does not pass', async () => {
    await expect(clientFor(standIn, { kind: 'bearer', apiKey: 'cdp-plain-key' }).sessionUrl({ address: ADDRESS, amountUsd: null })).rejects.toMatchObject({ code: 'BAD_GATEWAY' });
    expect(standIn.refused.at(-1)).toBe('not a JWS compact token');

    const signer = cdpJwtSigner({ keyName: KEY_NAME, keySecret: key.secret });
    const elsewhere = signer.token('POST', 'https://api.developer.coinbase.com/onramp/v1/token');
    const r = await fetch(`${standIn.url}/onramp/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${elsewhere}` }, body: '{}' });
    expect(r.status).toBe(401);
    expect(standIn.refused.at(-1)).toMatch(/^uris \["POST api\.developer\.coinbase\.com\/onramp\/v1\/token"\] is not/);
  });
});

describe('on-ramp authentication configuration', () => {
  const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', INTERNAL_TOKEN_SECRET: TEST_SECRET };

  it('defaults to cdp_jwt when a key secret is set and to bearer otherwise', () => {
    const ec = ecKey();
    expect(readConfig({ ...base, ONRAMP_API_KEY_NAME: KEY_NAME, ONRAMP_API_KEY_SECRET: ec.secret }).ONRAMP_AUTH).toBe('cdp_jwt');
    expect(readConfig({ ...base, ONRAMP_API_KEY: 'plain' }).ONRAMP_AUTH).toBe('bearer');
    expect(readConfig(base).ONRAMP_AUTH).toBe('bearer');
    expect(readConfig({ ...base, ONRAMP_AUTH: 'bearer', ONRAMP_API_KEY: 'plain', ONRAMP_API_KEY_NAME: KEY_NAME, ONRAMP_API_KEY_SECRET: ec.secret }).ONRAMP_AUTH).toBe('bearer');
    // A PEM on one line with \n escapes, as CDP suggests for environment variables.
    const oneLine = ec.secret.trim().replace(/\n/g, '\\n');
    expect(readConfig({ ...base, ONRAMP_API_KEY_NAME: KEY_NAME, ONRAMP_API_KEY_SECRET: oneLine }).ONRAMP_AUTH).toBe('cdp_jwt');
  });

  it('fails at boot on a missing or unusable key, naming the variable and never echoing the secret', () => {
    expect(() => readConfig({ ...base, ONRAMP_AUTH: 'cdp_jwt' })).toThrow(/ONRAMP_API_KEY_NAME: required when ONRAMP_AUTH is cdp_jwt\n {2}ONRAMP_API_KEY_SECRET: required/);
    const ed = ed25519Key().secret;
    expect(() => readConfig({ ...base, ONRAMP_API_KEY_SECRET: ed })).toThrow(/ONRAMP_API_KEY_NAME: required/);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const raw = Buffer.from(ed, 'base64');
    const mismatched = Buffer.concat([raw.subarray(0, 32), Buffer.from(ed25519Key().secret, 'base64').subarray(32)]).toString('base64');
    for (const [secret, why] of [
      [rsa, /EC P-256/],
      [p384, /EC P-256/],
      ['-----BEGIN EC PRIVATE KEY-----\nnot-a-key\n-----END EC PRIVATE KEY-----', /not a readable PEM/],
      [raw.subarray(0, 32).toString('base64'), /64 bytes/],
      [mismatched, /public half does not match/],
      ['not base64!', /PEM EC private key or a base64 Ed25519 key/],
    ] as const) {
      let message = '';
      try {
        readConfig({ ...base, ONRAMP_API_KEY_NAME: KEY_NAME, ONRAMP_API_KEY_SECRET: secret });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/ONRAMP_API_KEY_SECRET: /);
      expect(message).toMatch(why);
      const material = secret.replace(/-----[^-]+-----/g, '').replace(/\s/g, '').slice(0, 24);
      expect(message).not.toContain(material);
    }
  });
});

describe('POST /agents/:id/onramp with CDP JWT authentication', () => {
  let w: ChainWallets;
  let standIn: OnrampStandIn;
  const key = ed25519Key();
  beforeAll(async () => {
    standIn = await startOnrampStandIn({ keyName: KEY_NAME, publicKey: key.publicKey });
    w = await startWalletsOnChain({ ONRAMP_API_URL: standIn.url, ONRAMP_API_KEY_NAME: KEY_NAME, ONRAMP_API_KEY_SECRET: key.secret });
  });
  afterAll(async () => {
    await w?.stop();
    await standIn?.close();
  });

  it('answers the hosted on-ramp URL with the token of a JWT-authenticated session request (spec 001 shape)', async () => {
    const me = asUser(uniq('onramp-user'));
    const agent = (await call(`${w.url}/agents`, { body: { name: 'Onramp JWT Bot' }, headers: me })).body as { id: string; wallet_address: string };
    const r = await call(`${w.url}/agents/${agent.id}/onramp`, { headers: me, body: { amount: 25 } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), onrampUrl: expect.any(String) });
    expect(standIn.refused).toEqual([]);
    expect(standIn.accepted).toHaveLength(1);
    expect(standIn.accepted[0].header).toMatchObject({ alg: 'EdDSA', kid: KEY_NAME });
    expect(standIn.accepted[0].body).toEqual({ addresses: [{ address: agent.wallet_address, blockchains: ['base'] }], assets: ['USDC'] });
    const url = new URL(r.body.onrampUrl);
    expect(url.searchParams.get('sessionToken')).toMatch(/^ost_/);
    expect(url.searchParams.get('presetFiatAmount')).toBe('25');
  });
});
