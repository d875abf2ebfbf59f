import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { ServicesRepository, ServiceRow } from '../db/services.repository';
import type { UsageRepository, ServiceUsageTotals } from '../db/usage.repository';

export interface ProbeResult {
  reachable: boolean;
  latencyMs: number;
  /** 0 when no HTTP answer came. */
  statusCode: number;
  /** "" when reachable. */
  error: string;
}

/** Reaches a provider's endpoint once; refuses (400) targets the outbound policy forbids. */
export interface EndpointProbe {
  probe(endpoint: string): Promise<ProbeResult>;
}

/** Spec 002 "Onboarding Progress": the five steps, in order, with the labels it prints. */
export const ONBOARDING_STEPS = [
  ['create_api_key', 'Create API key'],
  ['register_service', 'Register your first service'],
  ['activate_service', 'Activate a service'],
  ['first_traffic', 'Receive first API call'],
  ['first_settlement', 'Complete first settlement'],
] as const;
export type OnboardingStep = (typeof ONBOARDING_STEPS)[number][0];

const isAdmin = (p: Principal) => p.roles.includes('admin');
const noUsage = (serviceId: string): ServiceUsageTotals => ({ serviceId, calls: 0, latencyTotalMs: 0, revenueMicros: 0n });

/** The provider's view of its own services (spec 002 "Provider Portal"), from its registry rows and the usage read model. */
export function createProviderPortal(deps: { services: ServicesRepository; usage: UsageRepository; probe: EndpointProbe }) {
  const { services, usage, probe } = deps;
  return {
    async myServices(principal: Principal, q: { limit: number; offset: number }): Promise<{ service: ServiceRow; usage: ServiceUsageTotals }[]> {
      const rows = await services.listByProvider(principal.owner_id, q);
      const totals = await usage.totalsFor(rows.map((s) => s.id));
      return rows.map((s) => ({ service: s, usage: totals.get(s.id) ?? noUsage(s.id) }));
    },

    async testEndpoint(principal: Principal, serviceId: string): Promise<{ service: ServiceRow; result: ProbeResult }> {
      const s = await services.findById(serviceId);
      if (!s) throw new AppError('NOT_FOUND', 'Service not found');
      if (s.providerId !== principal.owner_id && !isAdmin(principal)) throw new AppError('FORBIDDEN', 'Not your service');
      return { service: s, result: await probe.probe(s.endpoint) };
    },

    /**
     * Each step from what this service knows: the caller's own key (or a key.created seen for
     * it), its registry rows, and the first service.called / settlement.completed for it.
     */
    async onboarding(principal: Principal): Promise<Record<OnboardingStep, boolean>> {
      const owner = principal.owner_id;
      const [m, registered, active] = await Promise.all([usage.milestones(owner), services.countByProvider(owner), services.countByProvider(owner, 'active')]);
      return {
        create_api_key: Boolean(m?.firstKeyAt) || principal.key_id !== null,
        register_service: registered > 0,
        activate_service: active > 0,
        first_traffic: Boolean(m?.firstCallAt),
        first_settlement: Boolean(m?.firstSettlementAt),
      };
    },
  };
}
export type ProviderPortal = ReturnType<typeof createProviderPortal>;
