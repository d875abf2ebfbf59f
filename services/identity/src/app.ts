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
import { createOrgsService } from './domain/orgs.service';
import { createDepartmentsService } from './domain/departments.service';
import { orgsRouter, orgsErrorFamily } from './http/orgs.router';
import { departmentsRouter } from './http/departments.router';
import { walletAgentConsumer } from './events/consumers/wallet-agent.consumer';
import { paymentCompletedConsumer } from './events/consumers/payment-completed.consumer';
import { reputationUpdatedConsumer } from './events/consumers/reputation-updated.consumer';
import { authRepository } from './db/auth.repository';
import { createTokenIssuer } from './domain/tokens';
import { createAttemptLimiter } from './domain/attempts';
import { createAuthService } from './domain/auth.service';
import { createDeviceService } from './domain/device.service';
import { createApiKeysService } from './domain/api-keys.service';
import { authRouter, spec001ErrorFamily } from './http/auth.router';
import { apiKeysRouter } from './http/api-keys.router';
import { jwksRouter } from './http/jwks.router';
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
    // Spec 001 auth: user tokens, guessing limits, SIWE, device flow, /api-keys.
    const c = ctx.config;
    const authStore = authRepository(ctx.db);
    const tokens = createTokenIssuer({ keys: c.JWT_SIGNING_KEYS, issuer: c.JWT_ISSUER, audience: c.JWT_AUDIENCE, ttlS: c.JWT_TTL_S, orgs: uow.orgs });
    const limiter = createAttemptLimiter({ store: authStore, windowS: c.AUTH_FAILURE_WINDOW_S });
    const limits = { perAccount: c.AUTH_MAX_FAILURES_PER_ACCOUNT, perIp: c.AUTH_MAX_FAILURES_PER_IP };
    const auth = createAuthService({ store: authStore, tokens, limiter, limits, siwe: { domain: c.SIWE_DOMAIN, chainIds: c.SIWE_CHAIN_IDS, nonceTtlS: c.SIWE_NONCE_TTL_S } });
    const devices = createDeviceService({
      store: authStore,
      tokens,
      limiter,
      hasher,
      ttlS: c.DEVICE_CODE_TTL_S,
      intervalS: c.DEVICE_POLL_INTERVAL_S,
      verificationUrl: c.DEVICE_VERIFICATION_URL,
      maxFailuresPerAccount: c.AUTH_MAX_FAILURES_PER_ACCOUNT,
    });
    const apiKeys = createApiKeysService({ uow, store: authStore, hasher });
    const orgs = createOrgsService({ uow });
    const departments = createDepartmentsService({ uow });
    return {
      rawPaths: ['/agent-onboard'],
      consumers: [
        walletAgentConsumer({ uow, departments, agents }),
        paymentCompletedConsumer({ uow, departments }),
        reputationUpdatedConsumer({ uow, agents }),
      ],
      mount(app) {
        app.use(spec001ErrorFamily);
        app.use(credentialsRouter({ credentials }));
        app.use(jwksRouter({ tokens }));
        app.use(authRouter({ auth, devices }));
        app.use(apiKeysRouter({ apiKeys }));
        app.use(keysRouter({ keys, guard: { limiter, maxFailuresPerIp: limits.perIp } }));
        app.use(agentsRouter({ agents }));
        app.use(orgsErrorFamily);
        app.use(orgsRouter({ orgs }));
        app.use(departmentsRouter({ departments }));
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
