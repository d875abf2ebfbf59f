import type { Outbox, SqlClient } from '@platform/events';
import type { ServiceRow } from '../db/services.repository';

type ServiceEvent = 'service.registered' | 'service.updated' | 'service.removed';

/**
 * What marketplace emits. Metering builds its price list from these, so the payload carries
 * the private endpoint and the exact price in micro-USDC (libs/events catalogue).
 */
export function servicePublishers(outbox: Outbox) {
  const stage = (type: ServiceEvent) => (tx: SqlClient, s: ServiceRow) =>
    outbox.stage(tx, type, s.id, {
      service_id: s.id,
      provider_id: s.providerId,
      name: s.name,
      endpoint: s.endpoint,
      price_micros: s.priceMicros.toString(),
      payment_method: s.paymentMethod,
      free_tier_calls: s.freeTierCalls,
      status: s.status as 'active' | 'paused' | 'removed',
      category: s.category,
      tags: s.tags,
    });
  return {
    registered: stage('service.registered'),
    updated: stage('service.updated'),
    removed: stage('service.removed'),
  };
}
export type ServicePublishers = ReturnType<typeof servicePublishers>;

export interface ToolSpec {
  name: string;
  description: string;
}

/** Plugin installs: the runtime gives an agent the tools of what it installed (spec 003). Subject = agent id. */
export function pluginPublishers(outbox: Outbox) {
  return {
    installed: (
      tx: SqlClient,
      i: { installId: string; agentId: string; pluginId: string; pluginName: string; pluginVersion: string; tools: ToolSpec[]; installedBy: string },
    ) =>
      outbox.stage(tx, 'plugin.installed', i.agentId, {
        install_id: i.installId,
        agent_id: i.agentId,
        plugin_id: i.pluginId,
        plugin_name: i.pluginName,
        plugin_version: i.pluginVersion,
        tools: i.tools,
        installed_by: i.installedBy,
      }),
    uninstalled: (tx: SqlClient, u: { installId: string; agentId: string; pluginId: string; uninstalledBy: string }) =>
      outbox.stage(tx, 'plugin.uninstalled', u.agentId, {
        install_id: u.installId,
        agent_id: u.agentId,
        plugin_id: u.pluginId,
        uninstalled_by: u.uninstalledBy,
      }),
  };
}
export type PluginPublishers = ReturnType<typeof pluginPublishers>;

/** Team lifecycle, so read models elsewhere (admin stats) can count active teams. Subject = team id. */
export function teamPublishers(outbox: Outbox) {
  return {
    created: (tx: SqlClient, t: { id: string; ownerId: string; name: string }) =>
      outbox.stage(tx, 'team.created', t.id, { team_id: t.id, owner_id: t.ownerId, name: t.name }),
    archived: (tx: SqlClient, t: { id: string; ownerId: string }) => outbox.stage(tx, 'team.archived', t.id, { team_id: t.id, owner_id: t.ownerId }),
  };
}
export type TeamPublishers = ReturnType<typeof teamPublishers>;
