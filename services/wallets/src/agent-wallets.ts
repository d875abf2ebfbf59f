import express, { Router, type Express } from 'express';
import { AppError, errorFamily } from '@platform/http';
import type { Consumer, ServiceContext } from '@platform/service';
import type { ReadinessCheck } from '@platform/http';
import type { Db } from './db/client';
import type { Config } from './config';
import type { LedgerRepository } from './db/ledger.repository';
import { agentsRepository } from './db/agents.repository';
import { sessionsRepository } from './db/sessions.repository';
import { createChainClient } from './chain/chain.client';
import { KeyVault } from './domain/key-vault';
import { agentService } from './domain/agents.service';
import { fundingService } from './domain/funding.service';
import { sessionService } from './domain/sessions.service';
import { paymentService } from './domain/payments.service';
import { onrampClient, type OnrampAuth } from './clients/onramp.client';
import { cdpJwtSigner } from './clients/cdp-jwt';
import { agentWalletEvents } from './events/publishers';
import { departmentDeletedConsumer } from './events/consumers/department-deleted.consumer';
import { agentsRouter } from './http/agents.router';
import { sessionsRouter } from './http/sessions.router';
import { walletInternalRouter } from './http/wallet-internal.router';
import { faucetRouter } from './http/faucet.router';

/**
 * The spec 001 route families, whose errors are `{"error": …}`. They are in the service's
 * rawPaths and their JSON is parsed by `spec001Body`, after the family is set: the base app's
 * parser would answer a malformed body as `{"detail": …}` before any router ran.
 */
export const SPEC001_PATHS = ['/agents', '/sessions', '/transactions', '/balance'];
const spec001Body = () => {
  const r = Router();
  r.use(SPEC001_PATHS, errorFamily('error'), express.json({ limit: '1mb' }));
  return r;
};

/** Sessions a crash left opening or closing are finished once they are this old. */
const RECOVER_AFTER_MS = 2 * 60_000;

export interface AgentWalletParts {
  mount(app: Express): void;
  consumers: Consumer<Db>[];
  readiness: ReadinessCheck[];
  onStart(): Promise<void>;
  onStop(): Promise<void>;
}

/**
 * Spec 001 agent wallets, policies, funding and payment sessions on the configured chain.
 * Without chain configuration their routes answer 503 and nothing touches a chain.
 */
export function buildAgentWallets(ctx: ServiceContext<Db, Config>, ledger: LedgerRepository): AgentWalletParts {
  const c = ctx.config;
  const agents = agentsRepository(ctx.db);
  const events = agentWalletEvents(ctx.outbox, ctx.name);
  const consumers: Consumer<Db>[] = [departmentDeletedConsumer({ agents, events })];

  if (!c.CHAIN_RPC_URL || !c.USDC_ADDRESS || !c.TREASURY_PRIVATE_KEY || !c.WALLET_MASTER_KEY) {
    const off = Router();
    off.use(SPEC001_PATHS, errorFamily('error'), (_req, _res, next) =>
      next(new AppError('UNAVAILABLE', 'Agent wallets are not configured on this platform: set CHAIN_RPC_URL, USDC_ADDRESS, TREASURY_PRIVATE_KEY and WALLET_MASTER_KEY')),
    );
    return { mount: (app) => app.use(spec001Body(), off), consumers, readiness: [], onStart: async () => undefined, onStop: async () => undefined };
  }

  const chain = createChainClient({
    rpcUrl: c.CHAIN_RPC_URL,
    chainId: c.CHAIN_ID,
    usdcAddress: c.USDC_ADDRESS,
    treasuryPrivateKey: c.TREASURY_PRIVATE_KEY,
    eip712: { name: c.USDC_EIP712_NAME, version: c.USDC_EIP712_VERSION },
    confirmations: c.CHAIN_CONFIRMATIONS,
    txTimeoutMs: c.CHAIN_TX_TIMEOUT_MS,
  });
  const sessionsRepo = sessionsRepository(ctx.db);
  const base = { agents, ledger, events, chain, vault: new KeyVault(c.WALLET_MASTER_KEY), logger: ctx.logger };
  const funding = fundingService({ ...base, gasSponsorGwei: c.GAS_SPONSOR_GWEI, onrampSenders: c.ONRAMP_SENDER_ADDRESSES });
  const onrampAuth: OnrampAuth =
    c.ONRAMP_AUTH === 'cdp_jwt' ? { kind: 'cdp_jwt', signer: cdpJwtSigner({ keyName: c.ONRAMP_API_KEY_NAME!, keySecret: c.ONRAMP_API_KEY_SECRET! }) } : { kind: 'bearer', apiKey: c.ONRAMP_API_KEY };
  const onramp = c.ONRAMP_API_URL ? onrampClient({ apiUrl: c.ONRAMP_API_URL, auth: onrampAuth, payUrl: c.ONRAMP_PAY_URL, network: c.ONRAMP_NETWORK, timeoutMs: c.ONRAMP_TIMEOUT_MS }) : null;
  const agentsSvc = agentService({ ...base, onramp, drainOnDeactivate: (_caller, agent) => funding.drainAgent(agent, null) });
  const sessions = sessionService({ ...base, sessions: sessionsRepo, funding });
  const payments = paymentService({ ...base, sessions: sessionsRepo, funding });

  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> | null = null;
  const sweep = () => {
    if (sweeping) return;
    sweeping = Promise.allSettled([
      c.AUTO_TOPUP_INTERVAL_MS > 0 ? funding.sweepAutoTopups() : Promise.resolve(0),
      sessions.recover(new Date(Date.now() - RECOVER_AFTER_MS)),
    ]).finally(() => (sweeping = null));
  };

  return {
    mount(app) {
      app.use(spec001Body());
      app.use(walletInternalRouter({ sessions, payments }));
      app.use(agentsRouter({ agents: agentsSvc, funding, repo: agents }));
      app.use(sessionsRouter({ sessions }));
      if (c.DEV_FAUCET) app.use(faucetRouter({ chain }));
    },
    consumers,
    // Not a readiness check: a chain RPC hiccup must not take balance debits and credits out of rotation.
    readiness: [],
    async onStart() {
      const reported = await chain.reportedChainId().catch(() => null);
      if (reported !== null && reported !== c.CHAIN_ID) ctx.logger.error({ configured: c.CHAIN_ID, reported }, 'CHAIN_RPC_URL serves another chain than CHAIN_ID');
      // Auto top-ups at their interval; session recovery at least once a minute either way.
      timer = setInterval(sweep, c.AUTO_TOPUP_INTERVAL_MS > 0 ? Math.min(c.AUTO_TOPUP_INTERVAL_MS, 60_000) : 60_000);
      timer.unref();
    },
    async onStop() {
      if (timer) clearInterval(timer);
      await sweeping;
      chain.close();
    },
  };
}
