import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { AppError, checkOutboundUrl } from '@platform/http';
import type { EndpointProbe, ProbeResult } from '../domain/provider.service';

const TIMED_OUT = 'Connection timed out';

/** Readable reasons for the errors a provider's endpoint commonly answers with. */
function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ECONNRESET':
      return 'Connection reset by the server';
    case 'ETIMEDOUT':
      return TIMED_OUT;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'Host unreachable';
    default:
      return err.message || String(err.code ?? 'request failed');
  }
}

/**
 * The provider endpoint test (spec 002 "Test Service Endpoint"): one GET, answered with
 * reachability, the status and the time to the response headers. The URL passes
 * checkOutboundUrl first (private, loopback and link-local targets are refused unless
 * allow-listed) and the connection goes to the address it vetted, so DNS cannot swap it.
 * Redirects are reported, never followed: a 3xx could point anywhere, including inside.
 */
export function httpEndpointProbe(opts: { allowHosts: Set<string>; timeoutMs: number }): EndpointProbe {
  return {
    async probe(endpoint: string): Promise<ProbeResult> {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      const failed = (error: string): ProbeResult => ({ reachable: false, latencyMs: elapsed(), statusCode: 0, error });

      let target: Awaited<ReturnType<typeof checkOutboundUrl>>;
      let timer: NodeJS.Timeout | undefined;
      try {
        const resolving = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new AppError('GATEWAY_TIMEOUT', TIMED_OUT)), opts.timeoutMs);
        });
        target = await Promise.race([checkOutboundUrl(endpoint, opts.allowHosts), resolving]);
      } catch (err) {
        if (err instanceof AppError && err.code === 'FORBIDDEN') {
          throw new AppError('BAD_REQUEST', `Endpoint refused: ${err.message}. Register a public endpoint.`);
        }
        if (err instanceof AppError && err.code === 'BAD_REQUEST') throw err;
        return failed(err instanceof Error ? err.message : String(err));
      } finally {
        clearTimeout(timer);
      }

      const lookup: LookupFunction = (_hostname, options, callback) => {
        if (options.all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
        else callback(null, target.address, target.family);
      };
      const left = Math.max(1, opts.timeoutMs - elapsed());
      return new Promise<ProbeResult>((resolve) => {
        let settled = false;
        const settle = (r: ProbeResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve(r);
        };
        const mod = target.url.protocol === 'https:' ? https : http;
        const req = mod.request(
          target.url,
          { method: 'GET', lookup, agent: false, headers: { 'User-Agent': 'acf-endpoint-test/1', Accept: '*/*' } },
          (res) => {
            const latencyMs = elapsed();
            // Only reachability matters; the body is not read.
            res.destroy();
            settle({ reachable: true, latencyMs, statusCode: res.statusCode ?? 0, error: '' });
          },
        );
        const deadline = setTimeout(() => {
          settle({ reachable: false, latencyMs: opts.timeoutMs, statusCode: 0, error: TIMED_OUT });
          req.destroy();
        }, left);
        req.on('error', (err: NodeJS.ErrnoException) => settle(failed(describe(err))));
        req.end();
      });
    },
  };
}
