import { AppError } from '@platform/http';

/**
 * The fiat on-ramp (spec 001 "Create a Coinbase Onramp session"): asks the provider's
 * session-token endpoint for a token bound to the agent's address and USDC, and builds the
 * hosted buy-page URL from it. Coinbase's shape:
 *   POST {ONRAMP_API_URL}/onramp/v1/token  {"addresses":[{"address","blockchains":["base"]}],"assets":["USDC"]}
 *   → {"token": "…"}   then   {ONRAMP_PAY_URL}?sessionToken=…&defaultAsset=USDC[&presetFiatAmount=50]
 * The request carries ONRAMP_API_KEY as a bearer token. (Coinbase's production API wants a
 * per-request JWT signed with a CDP key; that signer is not part of this client.)
 */
export interface OnrampClient {
  name: string;
  sessionUrl(q: { address: string; amountUsd: string | null }): Promise<string>;
}

export function onrampClient(opts: { apiUrl: string; apiKey?: string; payUrl: string; network: string; timeoutMs: number }): OnrampClient {
  return {
    name: 'coinbase',
    async sessionUrl(q) {
      let res: Response;
      try {
        res = await fetch(`${opts.apiUrl.replace(/\/$/, '')}/onramp/v1/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}) },
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
