import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

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

const capabilities = z
  .array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'must be a lowercase slug (letters, digits, _ . -), at most 64 characters'))
  .max(50)
  .transform((caps) => [...new Set(caps)]);

/** Spec 003 `POST /api/v1/public/agents/register`. */
export const RegisterAgentBody = z.object({
  agent_name: z.string().trim().min(1).max(128),
  capabilities,
  callback_url: httpsUrl,
});

const METADATA_MAX_BYTES = 8192;
const displayName = z.string().trim().min(1, 'display_name must not be empty').max(128);
const walletAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed address of 40 hex digits').nullable();
const metadata = z
  .record(z.string().max(64), z.unknown(), { error: 'metadata must be a JSON object' })
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= METADATA_MAX_BYTES, `metadata must be at most ${METADATA_MAX_BYTES} bytes of JSON`);
export const AGENT_STATUSES = ['active', 'suspended', 'deactivated'] as const;
const status = z.enum(AGENT_STATUSES, { error: `status must be one of ${AGENT_STATUSES.join(', ')}` });

/** Spec 002 `POST /api/v1/agents`. */
export const CreateAgentBody = z.object({
  display_name: displayName,
  identity_type: z.enum(['api_key_only', 'kya_jwt', 'did_vc'], { error: 'identity_type must be api_key_only, kya_jwt or did_vc' }).default('api_key_only'),
  capabilities: capabilities.default([]),
  wallet_address: walletAddress.default(null),
  metadata: metadata.default({}),
});

/** Spec 002 `PATCH /api/v1/agents/{agent_id}`: every field optional, at least one given. */
export const UpdateAgentBody = z
  .object({ display_name: displayName.optional(), capabilities: capabilities.optional(), wallet_address: walletAddress.optional(), status: status.optional(), metadata: metadata.optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of display_name, capabilities, wallet_address, status, metadata');

/** Spec 002 `GET /api/v1/agents`. */
export const ListAgentsQuery = z.object({ status: status.default('active'), limit: limitParam(50), offset: offsetParam });
/** Spec 002 `GET /api/v1/agents/search`: by name, capability or id. */
export const SearchAgentsQuery = z.object({ q: z.string().max(200).default(''), status: status.default('active'), limit: limitParam(20), offset: offsetParam });
export const AgentParams = z.object({ agent_id: z.string().min(1).max(64) });
