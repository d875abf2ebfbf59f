import type { DiscoveryRepository, DiscoverFilter } from '../db/discovery.repository';
import type { ServiceRow } from '../db/services.repository';
import type { UsageRepository } from '../db/usage.repository';

export interface TrendingEntry {
  service: ServiceRow;
  calls: number;
  latencyTotalMs: number;
}

/** Discovery (spec 002): search, categories, and the usage-driven views built from service.called. */
export function createDiscovery(deps: { discovery: DiscoveryRepository; usage: UsageRepository; trendingWindowDays: number }) {
  const { discovery, usage } = deps;
  return {
    search: (f: DiscoverFilter) => discovery.search(f),
    categories: () => discovery.categories(),

    async trending(limit: number): Promise<TrendingEntry[]> {
      const top = await usage.trending(deps.trendingWindowDays, limit);
      const rows = new Map((await discovery.byIdsInOrder(top.map((t) => t.serviceId))).map((s) => [s.id, s]));
      return top.flatMap((t) => {
        const service = rows.get(t.serviceId);
        return service ? [{ service, calls: t.calls, latencyTotalMs: t.latencyTotalMs }] : [];
      });
    },

    /** An agent with no calls yet has no categories to go on, hence no recommendations. */
    async recommendations(agentId: string, limit: number): Promise<ServiceRow[]> {
      return discovery.byIdsInOrder(await usage.recommendations(agentId, limit));
    },
  };
}
export type Discovery = ReturnType<typeof createDiscovery>;
