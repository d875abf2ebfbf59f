import { randomBytes } from 'node:crypto';
import type { Principal } from '@platform/auth';
import { AppError } from '@platform/http';
import type { AgentsRepository } from '../db/agents.repository';
import type { PluginsRepository, PluginRow, InstallRow } from '../db/plugins.repository';
import type { PluginPublishers, ToolSpec } from '../events/publishers';

/** Spec 003 shows install ids as "inst-3f8a12bc4d90". */
export const newInstallId = () => `inst-${randomBytes(6).toString('hex')}`;

/** The registry keeps tools as JSON; anything that is not a {name, description} entry is dropped. */
export function toolsOf(p: PluginRow): ToolSpec[] {
  if (!Array.isArray(p.tools)) return [];
  return p.tools.flatMap((t) =>
    t && typeof t === 'object' && !Array.isArray(t) && typeof t.name === 'string' ? [{ name: t.name, description: typeof t.description === 'string' ? t.description : '' }] : [],
  );
}

const isAdmin = (p: Principal) => p.roles.includes('admin');

/**
 * Plugins on agents (spec 003). Agents are known from identity's events; a caller acts on
 * an agent it owns, or as that agent (its pa_ key), or as an admin. Installing needs the
 * agent ACTIVE; removing does not, so a suspended agent can still shed capabilities.
 */
export function createPlugins(deps: { repo: PluginsRepository; agents: AgentsRepository; events: PluginPublishers }) {
  const { repo, agents, events } = deps;

  async function agentFor(principal: Principal, agentId: string) {
    const a = await agents.find(agentId);
    if (!a) throw new AppError('NOT_FOUND', 'Agent not found');
    if (a.ownerId !== principal.owner_id && principal.agent_id !== a.id && !isAdmin(principal)) throw new AppError('FORBIDDEN', 'Not your agent');
    return a;
  }

  return {
    registry: async (q: { limit: number; offset: number }) => ({ plugins: await repo.list(q), total: await repo.count() }),

    async plugin(id: string): Promise<PluginRow> {
      const p = await repo.find(id);
      if (!p) throw new AppError('NOT_FOUND', 'Plugin not found');
      return p;
    },

    async install(principal: Principal, agentId: string, pluginId: string): Promise<InstallRow> {
      const agent = await agentFor(principal, agentId);
      return repo.transaction(async (tx) => {
        const plugin = await repo.find(pluginId, tx);
        if (!plugin) throw new AppError('NOT_FOUND', `Plugin ${pluginId} is not in the registry`);
        if (agent.status.toLowerCase() !== 'active') throw new AppError('CONFLICT', `Agent is ${agent.status}; only an active agent can install plugins`);
        const installed = await repo.install(tx, { id: newInstallId(), agentId, pluginId, installedBy: principal.owner_id });
        if (!installed) throw new AppError('CONFLICT', `Plugin ${pluginId} is already installed on this agent`);
        await events.installed(tx, {
          installId: installed.id,
          agentId,
          pluginId,
          pluginName: plugin.name,
          pluginVersion: plugin.version,
          tools: toolsOf(plugin),
          installedBy: installed.installedBy,
        });
        return installed;
      });
    },

    async installed(principal: Principal, agentId: string): Promise<InstallRow[]> {
      await agentFor(principal, agentId);
      return repo.installsOf(agentId);
    },

    async uninstall(principal: Principal, agentId: string, pluginId: string): Promise<void> {
      await agentFor(principal, agentId);
      await repo.transaction(async (tx) => {
        const removed = await repo.uninstall(tx, agentId, pluginId);
        if (!removed) throw new AppError('NOT_FOUND', 'Plugin is not installed on this agent');
        await events.uninstalled(tx, { installId: removed.id, agentId, pluginId, uninstalledBy: principal.owner_id });
      });
    },
  };
}
export type Plugins = ReturnType<typeof createPlugins>;
