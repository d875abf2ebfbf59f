import type { RequestHandler } from 'express';
import { z } from 'zod';
import { AppError } from './errors';

/** Turns zod issues into one sentence that says what to fix. */
export function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length ? i.path.join('.') : where;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

export interface Schemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
}

/**
 * zod at the edge: parsed values replace the raw ones (query on res.locals.query, since
 * Express 5 makes req.query read-only). A failure is a 400 that names the field.
 */
export function validate(schemas: Schemas): RequestHandler {
  return (req, res, next) => {
    for (const where of ['params', 'query', 'body'] as const) {
      const schema = schemas[where];
      if (!schema) continue;
      const input = where === 'body' ? (req.body ?? {}) : req[where];
      const result = schema.safeParse(input);
      if (!result.success) return next(new AppError('BAD_REQUEST', describeIssues(result.error, where)));
      if (where === 'query') res.locals.query = result.data;
      else if (where === 'params') res.locals.params = result.data;
      else req.body = result.data;
    }
    next();
  };
}

/** Common query pieces. */
export const limitParam = (fallback: number, max = 100) => z.coerce.number().int().min(1).max(max).default(fallback);
export const offsetParam = z.coerce.number().int().min(0).max(1_000_000).default(0);
