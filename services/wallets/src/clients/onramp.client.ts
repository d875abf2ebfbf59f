import { AppError } from '@platform/http';
import type { CdpJwtSigner } from './cdp-jwt';

/**
 * The fiat on-ramp (spec 001 "Create a Coinbase Onramp session"): asks the provider's
 * session-token endpoint for a token bound to the agent's address and USDC, and builds the
 * hosted buy-page URL from it. Coinbase's shape:
 *   POST {ONRAMP_API_URL}/onramp/v1/token  {"addresses":[{"address","blockchains":["base"]}],"assets":["USDC"]}
 *   → {"token": "…"}   then   {ONRAMP_PAY_URL}?sessionToken=…&defaultAsset=USDC[&presetFiatAmount=50]
 * Coinbase authenticates the request with a CDP API-key JWT (`cdp_jwt`: a fresh one per request,
 * bound to this method, host and path, see cdp-jwt.ts). `bearer` sends a fixed ONRAMP_API_KEY
 * instead, for providers that take one, or none when no key is set.
 */
export interface OnrampClient {
  name: string;
  sessionUrl(q: { address: string; amountUsd: string | null }): Promise<string>;
}

export type OnrampAuth = { kind: 'bearer'; apiKey?: string } | { kind: 'cdp_jwt'; signer: CdpJwtSigner };

export function onrampClient(opts: { apiUrl: string; auth: OnrampAuth; payUrl: string; network: string; timeoutMs: number }): OnrampClient {
  const tokenUrl = new URL(`${opts.apiUrl.replace(/\/$/, '')}/onramp/v1/token`);
  const authorization = (): string | null => {
    if (opts.auth.kind === 'cdp_jwt') return `Bearer ${opts.auth.signer.token('POST', tokenUrl)}`;
    return opts.auth.apiKey ? `Bearer ${opts.auth.apiKey}` : null;
  };
  return {
    name: 'coinbase',
    async sessionUrl(q) {
      const auth = authorization();
      let res: Response;
      try {
        res = await fetch(tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
          body: JSON.stringify({ addresses: [{ address: q.address, blockchains: [opts.network] }], assets: ['USDC'] }),
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch {
        throw new AppError('BAD_GATEWAY', 'The on-ramp provider did not answer; retry shortly');
      }
      const body = (await res.json().catch(() => null)) as { token?: unknown; data?: { token?: unknown } } | null;
      const token = body?.token ?? body?.data?.token;
      if (!res.ok || typeof token !== 'string' || !token) throw new AppError('BAD_GATEWAY', `The on-ramp provider refused the session (HTTP ${res.status})`);
      const url = new URL(opts.payUrl);
      url.searchParams.set('sessionToken', token);
      url.searchParams.set('defaultAsset', 'USDC');
      url.searchParams.set('defaultNetwork', opts.network);
      if (q.amountUsd) url.searchParams.set('presetFiatAmount', q.amountUsd);
      return url.toString();
    },
  };
}
