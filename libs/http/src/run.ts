import type { Express } from 'express';
import http from 'node:http';
import type { Logger } from '@platform/telemetry';

export interface RunningServer {
  server: http.Server;
  port: number;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to the deadline), then runs hooks. */
  stop(deadlineMs?: number): Promise<void>;
}

/** `app`: an express app, or any node:http request listener (the gateway's lean path). */
export async function listen(app: Express | http.RequestListener, opts: { port: number; host?: string; logger: Logger; onStop?: () => Promise<void> }): Promise<RunningServer> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  let stopping: Promise<void> | undefined;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    stop(deadlineMs = 10_000) {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), deadlineMs);
        await closed;
        clearTimeout(timer);
        await opts.onStop?.();
      })();
      return stopping;
    },
  };
}

/** SIGTERM/SIGINT: graceful stop, then exit. Used by each fleet process's main.ts. */
export function exitOnSignals(stop: () => Promise<void>, logger: Logger): void {
  let once = false;
  const handler = (signal: string) => {
    if (once) return;
    once = true;
    logger.info({ signal }, 'shutting down');
    const hard = setTimeout(() => process.exit(1), 15_000);
    hard.unref();
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
