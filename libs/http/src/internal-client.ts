import http from 'node:http';
import https from 'node:https';
import { serviceToken, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { AppError } from './errors';

/**
 * Service-to-service HTTP for the few synchronous paths (DESIGN rule 1): a timeout on every
 * call, the service token, and the caller's request id and trace context passed along.
 *
 * Plain node:http over one keep-alive agent per client, not fetch: on metering's hot path
 * undici's web streams cost about 15% of the process's CPU. Trace context rides on the
 * OpenTelemetry http instrumentation (libs/telemetry), which patches `http.request` and
 * injects `traceparent`; so `http.request` must be looked up at call time, never captured
 * at import.
 */
export class InternalClient {
  private token: string;
  private tokenAt = 0;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly prefix: string;
  constructor(
    private opts: { baseUrl: string; service: string; secret: string; timeoutMs?: number; target: string },
  ) {
    this.token = '';
    const url = new URL(opts.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`InternalClient: ${opts.target} base URL must be http or https, got ${url.protocol}`);
    const tls = url.protocol === 'https:';
    this.transport = tls ? https : http;
    // lifo keeps the hottest few sockets busy so the rest age out. The idle timeout stays well
    // under the servers' keepAliveTimeout (65 s in libs/http run.ts), so a pooled socket is
    // never reused at the moment the server closes it.
    const agentOpts: http.AgentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 64, scheduling: 'lifo', timeout: 30_000 };
    this.agent = tls ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port ? Number(url.port) : undefined;
    this.prefix = url.pathname.replace(/\/$/, '');
  }

  private authToken(): string {
    const now = Date.now();
    if (!this.token || now - this.tokenAt > 120_000) {
      this.token = serviceToken(this.opts.service, this.opts.secret);
      this.tokenAt = now;
    }
    return this.token;
  }

  /**
   * One deadline (timeoutMs, default 5 s) covers waiting for a pooled socket, connecting,
   * the response head and the whole body. Past it: GATEWAY_TIMEOUT; any other failure,
   * before or after the response head: UNAVAILABLE. Any status is returned, never thrown.
   */
  request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const target = this.opts.target;
    const timeoutMs = this.opts.timeoutMs ?? 5_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(
          timedOut
            ? new AppError('GATEWAY_TIMEOUT', `${target} service is not answering in time`)
            : new AppError('UNAVAILABLE', `${target} service is unavailable`),
        );
      };

      let req: http.ClientRequest;
      try {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const h: http.OutgoingHttpHeaders = {
          'content-type': 'application/json',
          [INTERNAL_PRINCIPAL_HEADER]: this.authToken(),
          ...headers,
        };
        // As fetch did: an explicit length, 0 for a bodiless POST rather than chunked encoding.
        if (payload) h['content-length'] = payload.length;
        else if (method.toUpperCase() !== 'GET' && method.toUpperCase() !== 'HEAD') h['content-length'] = 0;
        req = this.transport.request(
          { agent: this.agent, hostname: this.hostname, port: this.port, path: `${this.prefix}${path}`, method, headers: h },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', fail);
            // 'close' without 'end' first: the body was cut short.
            res.on('close', fail);
            res.on('end', () => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              let text = Buffer.concat(chunks).toString('utf8');
              if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
              let parsed: unknown = undefined;
              try {
                parsed = text ? JSON.parse(text) : undefined;
              } catch {
                parsed = text;
              }
              resolve({ status: res.statusCode ?? 0, body: parsed as T });
            });
          },
        );
        req.on('error', fail);
        req.end(payload);
      } catch {
        // Invalid header values or path, or a body JSON.stringify refuses: fetch failed these as unavailable too.
        fail();
        return;
      }
      if (settled) return;
      timer = setTimeout(() => {
        timedOut = true;
        fail();
        req.destroy();
      }, timeoutMs);
    });
  }

  /** Closes the pooled sockets; requests after this open new ones. Optional: idle sockets never hold a process open. */
  close(): void {
    this.agent.destroy();
  }
}
