import { z } from 'zod';

/** Spec 000 `POST /agent-onboard`. */
export const OnboardBody = z.object({
  agent_identity: z.string().trim().min(1).max(256),
  org_name: z.string().trim().min(1).max(128),
  project_name: z.string().trim().min(1).max(128).default('default'),
});
