import { Router } from 'express';
import { errorFamily } from '@platform/http';
import { agentPayJson, agentPayMarkdown, AgentPaySettings } from '../domain/agent-pay';

/** Spec 001 "Discovery": public, no credential; both documents are fixed by configuration. */
export function agentPayRouter(settings: AgentPaySettings): Router {
  const json = JSON.stringify(agentPayJson(settings));
  const md = agentPayMarkdown(settings);
  const r = Router();
  r.use('/.well-known', errorFamily('detail'));
  r.get('/.well-known/agent-pay.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/json; charset=utf-8').send(json);
  });
  r.get('/.well-known/agent-pay.md', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('text/markdown; charset=utf-8').send(md);
  });
  return r;
}
