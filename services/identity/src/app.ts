import path from 'node:path';
import type { ServiceDefinition } from '@platform/service';
import { createDb, Db } from './db/client';
import { unitOfWork } from './db/unit-of-work';
import { SecretHasher } from './domain/key-material';
import { createKeysService } from './domain/keys.service';
import { createCredentialsService } from './domain/credentials.service';
import { createOnboardingService } from './domain/onboarding.service';
import { createAgentsService } from './domain/agents.service';
import { keysRouter } from './http/keys.router';
import { credentialsRouter } from './http/credentials.router';
import { onboardingRouter } from './http/onboarding.router';
import { agentsRouter } from './http/agents.router';
import type { Config } from './config';

export const identityService: ServiceDefinition<Db, Config> = {
  name: 'identity',
  migrationsDir: path.join(__dirname, '..', 'prisma', 'migrations'),
  createDb,
  build(ctx) {
    const uow = unitOfWork(ctx.db, ctx.outbox);
    const hasher = new SecretHasher(ctx.config.KEY_HASH_SECRET);
    const keys = createKeysService({ uow, hasher });
    const credentials = createCredentialsService({ uow, hasher });
    const onboarding = createOnboardingService({ uow, hasher, freeCredits: ctx.config.ONBOARD_FREE_CREDITS });
    const agents = createAgentsService({ uow, hasher });
    return {
      rawPaths: ['/agent-onboard'],
      mount(app) {
        app.use(credentialsRouter({ credentials }));
        app.use(keysRouter({ keys }));
        app.use(agentsRouter({ agents }));
        app.use(onboardingRouter({ onboarding, publicBaseUrl: ctx.config.PUBLIC_BASE_URL }));
      },
      async onStart() {
        const bootstrap = ctx.config.BOOTSTRAP_ADMIN_KEY;
        if (bootstrap && (await keys.ensureBootstrapAdmin(bootstrap, ctx.config.BOOTSTRAP_ADMIN_OWNER))) {
          ctx.logger.info({ key_id: bootstrap.split(':')[0] }, 'bootstrap admin key inserted');
        }
      },
    };
  },
};
