/**
 * Credit packs and per-use prices (spec 000 `GET /agent-credits`). Prices are integer cents
 * of USD end to end; `price_usd` on the wire is dollars as the spec shows (`50`).
 */
export interface CreditPack {
  id: string;
  credits: number;
  priceCents: number;
}

/** What one use costs, by the name spec 000's `pricing` object gives it. */
export const CREDIT_USES = ['validate_call', 'incident_created', 'webhook_sent'] as const;
export type CreditUse = (typeof CREDIT_USES)[number];
export type CreditPricing = Record<CreditUse, number>;

/** Spec 000's packs, the default of CREDIT_PACKS. */
export const DEFAULT_CREDIT_PACKS = 'starter:5000:50,growth:22000:200,scale:120000:1000';

const PACK_ID = /^[a-z][a-z0-9_-]{0,31}$/;
const PRICE = /^(\d{1,7})(?:\.(\d{1,2}))?$/;
/** Stripe's smallest USD charge. */
export const MIN_PRICE_CENTS = 50;

/** `id:credits:price_usd,…` → packs; an error names the entry to fix. */
export function parseCreditPacks(text: string): { packs: CreditPack[] } | { error: string } {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (!entries.length) return { error: 'must list at least one pack as id:credits:price_usd' };
  const packs: CreditPack[] = [];
  for (const entry of entries) {
    const [id, credits, price, ...rest] = entry.split(':');
    if (rest.length || price === undefined) return { error: `"${entry}" must be id:credits:price_usd, e.g. starter:5000:50` };
    if (!PACK_ID.test(id)) return { error: `"${id}" is not a pack id (lowercase letters, digits, - and _, at most 32)` };
    if (!/^\d{1,9}$/.test(credits) || Number(credits) <= 0) return { error: `pack ${id}: credits must be a whole number above 0` };
    const m = PRICE.exec(price);
    if (!m) return { error: `pack ${id}: price_usd must be dollars with at most 2 decimals, e.g. 50 or 49.99` };
    const priceCents = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
    if (priceCents < MIN_PRICE_CENTS) return { error: `pack ${id}: price_usd must be at least 0.50` };
    if (packs.some((p) => p.id === id)) return { error: `pack ${id} is listed twice` };
    packs.push({ id, credits: Number(credits), priceCents });
  }
  return { packs };
}

/** Cents as spec 000 writes dollars: a number, whole when it can be (`50`, `49.99`). */
export const centsToUsd = (cents: number): number => Math.round(cents) / 100;
