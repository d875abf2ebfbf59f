import type { Db } from './client';
import type { Plugin, PluginInstall, Prisma } from '../generated/prisma/client';

export type PluginRow = Plugin;
export type InstallRow = PluginInstall & { plugin: Plugin };
export type Tx = Prisma.TransactionClient;

export function pluginsRepository(db: Db) {
  return {
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => db.$transaction(fn),
    list: (q: { limit: number; offset: number }) =>
      db.plugin.findMany({ orderBy: [{ installCount: 'desc' }, { id: 'asc' }], take: q.limit, skip: q.offset }),
    count: () => db.plugin.count(),
    find: (id: string, tx: Tx | Db = db) => tx.plugin.findUnique({ where: { id } }),
    installsOf: (agentId: string): Promise<InstallRow[]> =>
      db.pluginInstall.findMany({ where: { agentId }, include: { plugin: true }, orderBy: [{ installedAt: 'asc' }, { id: 'asc' }] }),

    /** null when the plugin is already on the agent (the unique (agent_id, plugin_id) pair). */
    async install(tx: Tx, row: { id: string; agentId: string; pluginId: string; installedBy: string }): Promise<InstallRow | null> {
      const inserted = await tx.$executeRawUnsafe(
        `INSERT INTO "plugin_installs" ("id", "agent_id", "plugin_id", "installed_by") VALUES ($1, $2, $3, $4)
         ON CONFLICT ("agent_id", "plugin_id") DO NOTHING`,
        row.id,
        row.agentId,
        row.pluginId,
        row.installedBy,
      );
      if (inserted === 0) return null;
      await tx.plugin.update({ where: { id: row.pluginId }, data: { installCount: { increment: 1 } } });
      return tx.pluginInstall.findUniqueOrThrow({ where: { id: row.id }, include: { plugin: true } });
    },

    /** The removed install, or null when the plugin was not on the agent. */
    async uninstall(tx: Tx, agentId: string, pluginId: string): Promise<PluginInstall | null> {
      const rows = await tx.$queryRawUnsafe<{ id: string; agent_id: string; plugin_id: string; installed_by: string; installed_at: Date }[]>(
        `DELETE FROM "plugin_installs" WHERE "agent_id" = $1 AND "plugin_id" = $2 RETURNING *`,
        agentId,
        pluginId,
      );
      const r = rows[0];
      if (!r) return null;
      await tx.$executeRawUnsafe(`UPDATE "plugins" SET "install_count" = GREATEST("install_count" - 1, 0) WHERE "id" = $1`, pluginId);
      return { id: r.id, agentId: r.agent_id, pluginId: r.plugin_id, installedBy: r.installed_by, installedAt: r.installed_at };
    },
  };
}
export type PluginsRepository = ReturnType<typeof pluginsRepository>;
