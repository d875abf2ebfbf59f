import type { Request } from 'express';
import { CLIENT_REQUEST_ID_HEADER, PrincipalTokenCache, verifyPrincipal, Principal } from '@platform/auth';
import { prepareHeaders, Forward } from './proxy';
import { ROUTES } from './routes';

const SECRET = 'unit-test-secret-0123456789abcdefghijklmnop';
const principal: Principal = { owner_id: 'buyer-1', kind: 'acf_key', key_id: 'acf_1', roles: ['buyer'], org_id: null, rate_limit: 60 };
const route = ROUTES.find((r) => r.pattern === '/api/v1/proxy/*')!;

function prepared(headers: Record<string, string>, f: Partial<Forward>) {
  const req = { headers: { ...headers } } as unknown as Request;
  prepareHeaders(req, { route, requestId: 'gw-made-id', clientRequestId: null, principal, consumedCredential: true, ...f }, new PrincipalTokenCache(SECRET));
  return req.headers;
}

describe('prepareHeaders', () => {
  it("forwards the client's own X-Request-ID as X-Client-Request-ID as well", () => {
    const h = prepared({ 'x-request-id': 'client-id-1' }, { requestId: 'client-id-1', clientRequestId: 'client-id-1' });
    expect(h['x-request-id']).toBe('client-id-1');
    expect(h[CLIENT_REQUEST_ID_HEADER]).toBe('client-id-1');
  });

  it('sends no X-Client-Request-ID for an id the gateway made up', () => {
    const h = prepared({}, { requestId: 'gw-made-id', clientRequestId: null });
    expect(h['x-request-id']).toBe('gw-made-id');
    expect(h[CLIENT_REQUEST_ID_HEADER]).toBeUndefined();
  });

  it('drops a client-sent X-Client-Request-ID and other internal headers, and the consumed credential', () => {
    const h = prepared(
      { [CLIENT_REQUEST_ID_HEADER]: 'forged', 'x-internal-principal': 'forged', 'x-internal-service': 'forged', authorization: 'Bearer acf_1:sec' },
      { requestId: 'gw-made-id', clientRequestId: null },
    );
    expect(h[CLIENT_REQUEST_ID_HEADER]).toBeUndefined();
    expect(h['x-internal-service']).toBeUndefined();
    expect(h.authorization).toBeUndefined();
    expect(verifyPrincipal(String(h['x-internal-principal']), SECRET)).toEqual(principal);
  });
});
