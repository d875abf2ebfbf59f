import { createHash } from 'node:crypto';

const names = new Map<string, string>();

/**
 * A hot statement as a named prepared statement for node-postgres (`pool.query(prepared(sql, values))`):
 * each connection parses and plans it once, then only binds and executes it. Hot-path statements
 * (batched unnest/jsonb ones especially) otherwise cost PostgreSQL a parse and a plan per call.
 * The name is a hash of the text, so two texts never share one.
 */
export function prepared(text: string, values: unknown[]): { name: string; text: string; values: unknown[] } {
  let name = names.get(text);
  if (!name) {
    name = `p_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (names.size < 1_000) names.set(text, name);
  }
  return { name, text, values };
}
