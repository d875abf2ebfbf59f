import { Router } from 'express';
import { errorFamily } from '@platform/http';
import { SERVICE_TEMPLATES, TEAM_TEMPLATES } from '../domain/templates';

/** Spec 002 "Templates": public, static. */
export function templatesRouter(): Router {
  const r = Router();
  r.use('/api/v1/templates', errorFamily('detail'));
  r.get('/api/v1/templates/teams', (_req, res) => {
    res.json({ templates: TEAM_TEMPLATES });
  });
  r.get('/api/v1/templates/services', (_req, res) => {
    res.json({ templates: SERVICE_TEMPLATES });
  });
  return r;
}
