/** The closed set of error codes; one mapping to HTTP status. Domain code throws AppError. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  PAYMENT_REQUIRED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  BAD_GATEWAY: 502,
  UNAVAILABLE: 503,
  GATEWAY_TIMEOUT: 504,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const badRequest = (m: string, d?: Record<string, unknown>) => new AppError('BAD_REQUEST', m, d);
export const unauthorized = (m = 'Missing or invalid API key') => new AppError('UNAUTHORIZED', m);
export const forbidden = (m = 'Insufficient permissions') => new AppError('FORBIDDEN', m);
export const notFound = (m = 'Not found') => new AppError('NOT_FOUND', m);
export const conflict = (m: string) => new AppError('CONFLICT', m);

/**
 * Error body shapes by route family, as each spec shows them:
 * spec 002 `{"detail": …}`, spec 001 `{"error": …}`, spec 000/003/004 `{"ok": false, "error": {…}}`.
 */
export type ErrorFamily = 'detail' | 'error' | 'ok';

export function errorBody(family: ErrorFamily, code: ErrorCode, message: string, requestId?: string, details?: Record<string, unknown>) {
  switch (family) {
    case 'error':
      return { error: message, ...(details ? { details } : {}), request_id: requestId };
    case 'ok':
      return { ok: false, error: { code: code.toLowerCase(), message, ...(details ? { details } : {}) }, request_id: requestId };
    default:
      return { detail: message, ...(details ? { errors: details } : {}), request_id: requestId };
  }
}
