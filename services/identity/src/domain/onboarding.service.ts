import { randomUUID } from 'node:crypto';
import { AppError } from '@platform/http';
import type { UnitOfWork } from './ports';
import { SecretHasher, displayPrefix, newBksKey } from './key-material';
import { insertKey } from './keys.service';

/** Onboarding keys get the spec 002 default rate (CONTRACTS: bks_live_ principals carry 60). */
const ONBOARD_RATE_LIMIT = 60;
const ENVIRONMENT = 'production';

/** "My Agent Project!" -> "my-agent-project"; empty when nothing usable is left. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}

export interface OnboardInput {
  agent_identity: string;
  org_name: string;
  project_name: string;
}

/** Spec 000 `POST /agent-onboard`: org, project, "production" environment and a bks_live_ key, atomically. */
export function createOnboardingService(deps: { uow: UnitOfWork; hasher: SecretHasher; freeCredits: number }) {
  return {
    async onboard(input: OnboardInput) {
      const slug = slugify(input.project_name);
      if (!slug) throw new AppError('BAD_REQUEST', 'project_name must contain at least one letter or digit');
      const token = newBksKey();
      return deps.uow.transaction(async (tx) => {
        const org = await tx.orgs.createOrganization({ name: input.org_name, agentIdentity: input.agent_identity, ownerUserId: null });
        const project = await tx.orgs.createProject({ orgId: org.id, name: input.project_name, slug });
        const env = await tx.orgs.createEnvironment({ projectId: project.id, name: ENVIRONMENT });
        // The org is the owner: its balance and credits are keyed on org_id (CONTRACTS principal).
        const key = await insertKey(tx, {
          id: randomUUID(),
          family: 'bks',
          secretHash: deps.hasher.hash(token),
          prefix: displayPrefix(token),
          ownerId: org.id,
          role: 'buyer',
          rateLimit: ONBOARD_RATE_LIMIT,
          walletAddress: null,
          name: `${slug}/${ENVIRONMENT}`,
          orgId: org.id,
          envId: env.id,
          agentId: null,
        });
        await tx.events.stage('agent.onboarded', org.id, {
          owner_id: org.id,
          org_id: org.id,
          project_id: project.id,
          env_id: env.id,
          key_id: key.id,
          agent_identity: input.agent_identity,
          free_credits: deps.freeCredits,
        });
        return {
          api_key: token,
          org_id: org.id,
          org_name: org.name,
          project_id: project.id,
          project_slug: project.slug,
          env_id: env.id,
          env_name: env.name,
          free_credits: deps.freeCredits,
          agent_identity: input.agent_identity,
        };
      });
    },
  };
}
export type OnboardingService = ReturnType<typeof createOnboardingService>;
