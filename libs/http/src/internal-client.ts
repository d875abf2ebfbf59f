import { serviceToken, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { AppError } from './errors';

/**
 * Service-to-service HTTP for the few synchronous paths (DESIGN rule 1): a timeout on every
 * call, the service token, and the caller's request id and trace context passed along.
 */
export class InternalClient {
  private token: string;
  private tokenAt = 0;
  constructor(
    private opts: { baseUrl: string; service: string; secret: string; timeoutMs?: number; target: string },
  ) {
    this.token = '';
  }

  private authToken(): string {
    const now = Date.now();
    if (!this.token || now - this.tokenAt > 120_000) {
      this.token = serviceToken(this.opts.service, this.opts.secret);
      this.tokenAt = now;
    }
    return this.token;
  }

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await fetch(`${this.opts.baseUrl}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          [INTERNAL_PRINCIPAL_HEADER]: this.authToken(),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
      });
    } catch (err) {
      const timeout = (err as Error).name === 'TimeoutError';
      throw new AppError(timeout ? 'GATEWAY_TIMEOUT' : 'UNAVAILABLE', `${this.opts.target} service is ${timeout ? 'not answering in time' : 'unavailable'}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed as T };
  }
}
