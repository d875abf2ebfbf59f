import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { AppError, checkOutboundUrl } from '@platform/http';
import type { SendResult, WebhookSender } from '../domain/delivery-worker';

/**
 * Posts deliveries with node:http(s) rather than fetch so the connection goes to the
 * address checkOutboundUrl vetted (no DNS rebinding between check and connect), while TLS
 * still verifies the URL's host name. Redirects are not followed: a 3xx is a failure.
 */
export function webhookSender(opts: { allowHosts: Set<string>; timeoutMs: number }): WebhookSender {
  return {
    async send(rawUrl, body, headers): Promise<SendResult> {
      const started = performance.now();
      const elapsed = () => performance.now() - started;
      let target: Awaited<ReturnType<typeof checkOutboundUrl>>;
      try {
        let timer: NodeJS.Timeout | undefined;
        const resolving = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`host did not resolve within ${opts.timeoutMs} ms`)), opts.timeoutMs);
        });
        target = await Promise.race([checkOutboundUrl(rawUrl, opts.allowHosts), resolving]).finally(() => clearTimeout(timer));
      } catch (err) {
        const refused = err instanceof AppError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST');
        return { ok: false, error: err instanceof Error ? err.message : String(err), permanent: refused, durationMs: elapsed() };
      }
      const host = target.url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (target.url.protocol !== 'https:' && !opts.allowHosts.has(host) && !opts.allowHosts.has(`${host}:${target.url.port}`)) {
        return { ok: false, error: 'webhook URLs must use HTTPS', permanent: true, durationMs: elapsed() };
      }
      const lookup: LookupFunction = (_hostname, options, callback) => {
        if (options.all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
        else callback(null, target.address, target.family);
      };
      const payload = Buffer.from(body, 'utf8');
      return new Promise<SendResult>((resolve) => {
        const mod = target.url.protocol === 'https:' ? https : http;
        const req = mod.request(
          target.url,
          { method: 'POST', lookup, headers: { ...headers, 'Content-Length': String(payload.length), 'User-Agent': 'acf-webhooks/1' } },
          (res) => {
            // The answer's body is not needed; draining it frees the socket.
            res.resume();
            res.on('end', () => {
              clearTimeout(timer);
              const status = res.statusCode ?? 0;
              resolve({ ok: status >= 200 && status < 300, statusCode: status, durationMs: elapsed() });
            });
            res.on('error', (err) => {
              clearTimeout(timer);
              resolve({ ok: false, statusCode: res.statusCode, error: err.message, durationMs: elapsed() });
            });
          },
        );
        const timer = setTimeout(() => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
        req.on('error', (err) => {
          clearTimeout(timer);
          resolve({ ok: false, error: err.message, durationMs: elapsed() });
        });
        req.end(payload);
      });
    },
  };
}
