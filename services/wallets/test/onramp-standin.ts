import http from 'node:http';
import { KeyObject, randomBytes, verify } from 'node:crypto';

/**
 * A local stand-in for Coinbase's session-token API (`POST /onramp/v1/token`) that checks the
 * CDP API-key JWT the way CDP does, independently of the service's signer: the algorithm must
 * fit the registered public key (ES256 for EC P-256, EdDSA for Ed25519), the signature must
 * verify, kid and sub must name the key, iss is "cdp", nbf/exp are current and at most 120 s
 * apart, `uris` is exactly ["<method> <host><path>"] of this request, and a nonce is never
 * accepted twice. Accepted requests get a session token; refused ones a 401 with the reason.
 */
export interface OnrampStandIn {
  url: string;
  accepted: { header: Record<string, unknown>; claims: Record<string, unknown>; body: unknown }[];
  refused: string[];
  close(): Promise<void>;
}

const MAX_LIFETIME_S = 120;
const CLOCK_SKEW_S = 5;

function decodePart(part: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

export async function startOnrampStandIn(key: { keyName: string; publicKey: KeyObject }): Promise<OnrampStandIn> {
  const accepted: OnrampStandIn['accepted'] = [];
  const refused: string[] = [];
  const nonces = new Set<string>();
  const alg = key.publicKey.asymmetricKeyType === 'ed25519' ? 'EdDSA' : 'ES256';

  /** The reason a request is refused, or null when its JWT is good. */
  function check(req: http.IncomingMessage): { reason: string } | { header: Record<string, unknown>; claims: Record<string, unknown> } {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return { reason: 'no bearer token' };
    const parts = m[1].split('.');
    if (parts.length !== 3) return { reason: 'not a JWS compact token' };
    const header = decodePart(parts[0]);
    const claims = decodePart(parts[1]);
    if (!header || !claims) return { reason: 'unreadable header or payload' };
    if (header.alg !== alg) return { reason: `alg ${String(header.alg)} does not fit the key (${alg})` };
    if (header.typ !== 'JWT') return { reason: 'typ is not JWT' };
    if (header.kid !== key.keyName) return { reason: 'unknown kid' };
    const input = Buffer.from(`${parts[0]}.${parts[1]}`);
    const sig = Buffer.from(parts[2], 'base64url');
    const ok = alg === 'ES256' ? verify('sha256', input, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, sig) : verify(null, input, key.publicKey, sig);
    if (!ok) return { reason: 'bad signature' };
    if (claims.iss !== 'cdp') return { reason: 'iss is not cdp' };
    if (claims.sub !== key.keyName) return { reason: 'sub does not name the key' };
    const now = Math.floor(Date.now() / 1000);
    const { nbf, exp } = claims;
    if (typeof nbf !== 'number' || typeof exp !== 'number') return { reason: 'nbf and exp are required' };
    if (nbf > now + CLOCK_SKEW_S) return { reason: 'not valid yet' };
    if (exp <= now - CLOCK_SKEW_S) return { reason: 'expired' };
    if (exp - nbf > MAX_LIFETIME_S || exp <= nbf) return { reason: `lifetime ${exp - nbf}s is not within 1..${MAX_LIFETIME_S}s` };
    const uri = `${req.method} ${req.headers.host}${new URL(req.url ?? '/', 'http://x').pathname}`;
    if (!Array.isArray(claims.uris) || claims.uris.length !== 1 || claims.uris[0] !== uri) return { reason: `uris ${JSON.stringify(claims.uris)} is not ["${uri}"]` };
    if (typeof header.nonce !== 'string' || header.nonce.length < 16) return { reason: 'nonce missing' };
    if (nonces.has(header.nonce)) return { reason: 'nonce replayed' };
    nonces.add(header.nonce);
    return { header, claims };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method !== 'POST' || req.url !== '/onramp/v1/token') {
        res.statusCode = 404;
        res.end(JSON.stringify({ code: 'not_found', message: 'Not found' }));
        return;
      }
      const r = check(req);
      if ('reason' in r) {
        refused.push(r.reason);
        res.statusCode = 401;
        res.end(JSON.stringify({ code: 'unauthorized', message: r.reason }));
        return;
      }
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.statusCode = 400;
        res.end(JSON.stringify({ code: 'invalid_request', message: 'body is not JSON' }));
        return;
      }
      accepted.push({ ...r, body });
      res.end(JSON.stringify({ token: `ost_${randomBytes(12).toString('hex')}`, channel_id: '' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    refused,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
