import type { ServiceBaseConfig } from '@platform/config';
import type { InProcessBus } from '@platform/events';
import { startService, RunningService, ServiceDb, ServiceDefinition } from '@platform/service';
import * as identity from '@platform/service-identity';
import * as wallets from '@platform/service-wallets';
import * as marketplace from '@platform/service-marketplace';
import * as metering from '@platform/service-metering';
import * as reputation from '@platform/service-reputation';
import * as settlements from '@platform/service-settlements';
import * as runtime from '@platform/service-runtime';
import * as webhooks from '@platform/service-webhooks';

export type Env = Record<string, string | undefined>;

export const SERVICE_NAMES = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Fleet ports (CONTRACTS): standalone keeps them so URLs are the same in both modes. */
export const FLEET_PORT_OFFSET: Record<ServiceName, number> = {
  identity: 101,
  wallets: 102,
  marketplace: 103,
  metering: 104,
  reputation: 105,
  settlements: 106,
  runtime: 107,
  webhooks: 108,
};

/** IDENTITY, WALLETS, ...: the prefix of a service's own variables (IDENTITY_DATABASE_URL, IDENTITY_PORT, IDENTITY_URL). */
export const envPrefix = (name: ServiceName) => name.toUpperCase();

export interface ServiceStartOptions {
  env: Env;
  inProcessBus?: InProcessBus;
  /** The database is an embedded PGlite: one connection at a time (see databases.ts). */
  embeddedDatabase: boolean;
  /** Outbox relays wait for this, so no event goes out before every consumer has subscribed. */
  holdOutbox?: Promise<void>;
}

export interface ServiceEntry {
  name: ServiceName;
  start(opts: ServiceStartOptions): Promise<RunningService<ServiceDb>>;
}

function entry<DB extends ServiceDb, C extends ServiceBaseConfig>(definition: ServiceDefinition<DB, C>, readConfig: (env: Env) => C): ServiceEntry {
  return {
    name: definition.name as ServiceName,
    async start(opts) {
      const config = readConfig(opts.env);
      const wrapped: ServiceDefinition<DB, C> = {
        ...definition,
        // pgAdapter reads PG_POOL_MAX when the client is built; createDb is synchronous, so
        // setting it around the call affects this service alone, not one with a real server.
        createDb: (url) => (opts.embeddedDatabase ? withEnv({ PG_POOL_MAX: '1' }, () => definition.createDb(url)) : definition.createDb(url)),
        build(ctx) {
          if (opts.holdOutbox) holdRelay(ctx.outbox, opts.holdOutbox);
          return definition.build(ctx);
        },
      };
      return startService(wrapped, config, { inProcessBus: opts.inProcessBus, ensureDatabase: !opts.embeddedDatabase });
    },
  };
}

/**
 * The in-process bus delivers only to groups subscribed at publish time (Kafka would keep the
 * event for a group that joins later). Events a service left in its outbox last time would go
 * out as soon as its relay starts, before later services subscribe; so relays start together,
 * once every service is up. Staging in the meantime just leaves rows in the outbox.
 */
function holdRelay(outbox: { start(): void }, hold: Promise<void>): void {
  const start = outbox.start.bind(outbox);
  outbox.start = () => void hold.then(start);
}

function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Every service the platform runs, in start order. */
export const SERVICES: ServiceEntry[] = [
  entry(identity.identityService, identity.readConfig),
  entry(wallets.walletsService, wallets.readConfig),
  entry(marketplace.marketplaceService, marketplace.readConfig),
  entry(metering.meteringService, metering.readConfig),
  entry(reputation.reputationService, reputation.readConfig),
  entry(settlements.settlementsService, settlements.readConfig),
  entry(runtime.runtimeService, runtime.readConfig),
  entry(webhooks.webhooksService, webhooks.readConfig),
];
