import pino, { Logger } from 'pino';
import { trace } from '@opentelemetry/api';

export type { Logger };

/** JSON logs; every line carries the active trace and span ids so logs join traces. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['secret', 'password', 'private_key', 'api_key', 'authorization', '*.secret', '*.password', '*.authorization', 'req.headers.authorization', 'req.headers["x-api-key"]'],
      censor: '[redacted]',
    },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const ctx = span.spanContext();
      return { trace_id: ctx.traceId, span_id: ctx.spanId };
    },
  });
}
