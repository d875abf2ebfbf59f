import { Router } from 'express';
import { AppError, errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import type { Plugins } from '../domain/plugins.service';
import { toolsOf } from '../domain/plugins.service';
import type { PluginRow, InstallRow } from '../db/plugins.repository';
import { InstallPluginBody, ListPluginsQuery } from './plugins.schemas';
import { isoOffset } from './render';

const renderPlugin = (p: PluginRow) => ({
  id: p.id,
  name: p.name,
  version: p.version,
  description: p.description,
  tools: toolsOf(p),
  install_count: p.installCount,
  created_at: isoOffset(p.createdAt),
});

/** Spec 003 shows the install reply with plugin_description and the list items without it. */
const renderInstall = (i: InstallRow, opts: { withDescription: boolean }) => ({
  id: i.id,
  agent_id: i.agentId,
  plugin_id: i.pluginId,
  plugin_name: i.plugin.name,
  plugin_version: i.plugin.version,
  ...(opts.withDescription ? { plugin_description: i.plugin.description } : {}),
  tools: toolsOf(i.plugin),
  installed_by: i.installedBy,
  installed_at: isoOffset(i.installedAt),
});

function pathId(raw: string | string[] | undefined, what: string): string {
  if (typeof raw !== 'string' || !raw || raw.length > 255) throw new AppError('NOT_FOUND', `${what} not found`);
  return raw;
}

/** Spec 003 "Plugins", plus the registry they come from (GET /api/v1/plugins). */
export function pluginsRouter(deps: { plugins: Plugins }): Router {
  const { plugins } = deps;
  const r = Router();
  r.use(['/api/v1/plugins', '/api/v1/agents/:agent_id/plugins'], errorFamily('detail'));

  r.get('/api/v1/plugins', validate({ query: ListPluginsQuery }), async (_req, res) => {
    const q = res.locals.query as ListPluginsQuery;
    const { plugins: list, total } = await plugins.registry(q);
    res.json({ plugins: list.map(renderPlugin), total, offset: q.offset, limit: q.limit });
  });

  r.get('/api/v1/plugins/:plugin_id', async (req, res) => {
    res.json(renderPlugin(await plugins.plugin(pathId(req.params.plugin_id, 'Plugin'))));
  });

  r.post('/api/v1/agents/:agent_id/plugins', requireAuth, validate({ body: InstallPluginBody }), async (req, res) => {
    const installed = await plugins.install(principalOf(req), pathId(req.params.agent_id, 'Agent'), (req.body as InstallPluginBody).plugin_id);
    res.status(201).json(renderInstall(installed, { withDescription: true }));
  });

  r.get('/api/v1/agents/:agent_id/plugins', requireAuth, async (req, res) => {
    const list = await plugins.installed(principalOf(req), pathId(req.params.agent_id, 'Agent'));
    res.json({ plugins: list.map((i) => renderInstall(i, { withDescription: false })), total: list.length });
  });

  r.delete('/api/v1/agents/:agent_id/plugins/:plugin_id', requireAuth, async (req, res) => {
    await plugins.uninstall(principalOf(req), pathId(req.params.agent_id, 'Agent'), pathId(req.params.plugin_id, 'Plugin'));
    res.status(204).end();
  });

  return r;
}
