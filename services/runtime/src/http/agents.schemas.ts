import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

export const ListAgentsQuery = z.object({
  status: z.string().trim().min(1).max(32).optional(),
  limit: limitParam(50, 100),
  offset: offsetParam,
});
export type ListAgentsQuery = z.infer<typeof ListAgentsQuery>;
