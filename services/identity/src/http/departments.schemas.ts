import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

/** Integer micro-USDC: spec 001 sends 500000000 for $500. Capped at $1B so it stays an exact JSON number. */
export const MAX_BUDGET_LIMIT = 1_000_000_000_000_000;
const budgetLimit = z
  .number({ error: 'budget_limit must be an integer number of micro-USDC (500000000 is $500)' })
  .int('budget_limit must be an integer number of micro-USDC (500000000 is $500)')
  .min(0, 'budget_limit must not be negative')
  .max(MAX_BUDGET_LIMIT, `budget_limit must be at most ${MAX_BUDGET_LIMIT} ($1B)`);
const name = z.string().trim().min(1, 'name must not be empty').max(128);

/** Spec 001 `POST /departments`. */
export const CreateDepartmentBody = z.object({ name, budget_limit: budgetLimit });

/** Spec 001 `PUT /departments/:id`: a new name, budget limit or both. */
export const UpdateDepartmentBody = z
  .object({ name: name.optional(), budget_limit: budgetLimit.optional() })
  .refine((b) => b.name !== undefined || b.budget_limit !== undefined, 'give name, budget_limit or both');

export const DepartmentParams = z.object({ id: z.uuid('id must be a department id (a UUID)') });
export const ListDepartmentsQuery = z.object({ limit: limitParam(50), offset: offsetParam });
