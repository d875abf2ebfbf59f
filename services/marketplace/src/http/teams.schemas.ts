import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const description = z.string().max(2000, 'must be at most 2000 characters');
/** Free-form JSON object; bounded so a team row stays small. */
const jsonObject = z
  .record(z.string(), z.unknown(), { message: 'must be a JSON object' })
  .refine((o) => JSON.stringify(o).length <= 16_384, 'must be at most 16384 characters as JSON');
const agentId = z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters');
const word = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const CreateTeamBody = z.object({ name, description: description.default(''), config: jsonObject.default({}) });
export type CreateTeamBody = z.infer<typeof CreateTeamBody>;

export const UpdateTeamBody = z
  .object({ name: name.optional(), description: description.optional(), config: jsonObject.optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of name, description, config');
export type UpdateTeamBody = z.infer<typeof UpdateTeamBody>;

export const ListTeamsQuery = z.object({ limit: limitParam(50, 100), offset: offsetParam });
export type ListTeamsQuery = z.infer<typeof ListTeamsQuery>;

export const AddMemberBody = z.object({
  agent_id: agentId,
  role: z.enum(['leader', 'worker', 'reviewer', 'router']).default('worker'),
  skills: z.array(word(50)).max(50, 'at most 50 skills').default([]),
});
export type AddMemberBody = z.infer<typeof AddMemberBody>;

export const AddRuleBody = z.object({
  name,
  keywords: z.array(word(100)).min(1, 'give at least one keyword').max(50, 'at most 50 keywords'),
  target_agent_id: agentId,
  priority: z.number().int('must be a whole number').min(-1_000_000, 'must be at least -1000000').max(1_000_000, 'must be at most 1000000').default(0),
  enabled: z.boolean().default(true),
});
export type AddRuleBody = z.infer<typeof AddRuleBody>;

export const AddGateBody = z.object({
  gate_type: z.enum(['quality_score', 'latency', 'error_rate', 'coverage', 'custom']),
  threshold: z.number().min(0, 'must be between 0.0 and 10.0').max(10, 'must be between 0.0 and 10.0'),
  gate_order: z.number().int('must be a whole number').min(0, 'must be 0 or more').max(1000, 'must be at most 1000').default(0),
  config: jsonObject.default({}),
  enabled: z.boolean().default(true),
});
export type AddGateBody = z.infer<typeof AddGateBody>;

export const RouteBody = z.object({ task: z.string().trim().min(1, 'must not be empty').max(10_000, 'must be at most 10000 characters') });
export type RouteBody = z.infer<typeof RouteBody>;
