import { Router, Request } from 'express';
import { errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import { callerOf } from '../domain/access';
import type { SessionService } from '../domain/sessions.service';
import { OpenSessionBody, SessionParams, SessionsQuery } from './sessions.schemas';
import { closedSessionJson, openedSessionJson, sessionDetailJson } from './agent-format';

const caller = (req: Request) => callerOf(principalOf(req));

/** Spec 001 payment sessions; errors as {"error": …}. */
export function sessionsRouter(deps: { sessions: SessionService; clock?: () => Date }): Router {
  const now = deps.clock ?? (() => new Date());
  const r = Router();
  r.use('/sessions', errorFamily('error'), requireAuth);

  r.post('/sessions', validate({ body: OpenSessionBody }), async (req, res) => {
    const b = req.body as OpenSessionBody;
    const s = await deps.sessions.open(caller(req), { agentId: b.agent_wallet_id, depositMicros: b.deposit_amount, durationS: b.duration });
    res.status(201).json({ session: openedSessionJson(s, now()) });
  });

  r.get('/sessions', validate({ query: SessionsQuery }), async (req, res) => {
    const q = res.locals.query as SessionsQuery;
    const out = await deps.sessions.list(caller(req), { agentId: q.agent_wallet_id, status: q.status }, q);
    const at = now();
    res.json({ sessions: out.sessions.map((s) => sessionDetailJson(s, at)), total: out.total, limit: q.limit, offset: q.offset });
  });

  r.get('/sessions/:id', validate({ params: SessionParams }), async (req, res) => {
    const s = await deps.sessions.get(caller(req), (res.locals.params as { id: string }).id);
    res.json({ session: sessionDetailJson(s, now()) });
  });

  r.post('/sessions/:id/close', validate({ params: SessionParams }), async (req, res) => {
    const s = await deps.sessions.close(caller(req), (res.locals.params as { id: string }).id);
    res.json({ session: closedSessionJson(s) });
  });
  return r;
}
