import { z } from 'zod';

const httpsUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' && !!u.hostname && !u.username && !u.password;
    } catch {
      return false;
    }
  }, 'must be an https:// URL without credentials');

/** Spec 003 `POST /api/v1/public/agents/register`. */
export const RegisterAgentBody = z.object({
  agent_name: z.string().trim().min(1).max(128),
  capabilities: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be a lowercase slug (letters, digits, _ . -), at most 64 characters'))
    .max(50)
    .transform((caps) => [...new Set(caps)]),
  callback_url: httpsUrl,
});
