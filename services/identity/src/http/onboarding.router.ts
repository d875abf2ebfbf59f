import express, { Router } from 'express';
import { errorFamily, validate } from '@platform/http';
import type { OnboardingService } from '../domain/onboarding.service';
import { OnboardBody } from './onboarding.schemas';

/**
 * Spec 000 `POST /agent-onboard`. Its path is listed in rawPaths so the body is parsed here,
 * after the family is set: a malformed body then answers {"ok": false, …} like any other error.
 */
export function onboardingRouter(deps: { onboarding: OnboardingService; publicBaseUrl: string }): Router {
  const r = Router();
  r.use('/agent-onboard', errorFamily('ok'), express.json({ limit: '16kb' }));
  r.post('/agent-onboard', validate({ body: OnboardBody }), async (req, res) => {
    const data = await deps.onboarding.onboard(req.body);
    const base = deps.publicBaseUrl;
    res.status(201).json({
      ok: true,
      data,
      _links: { validate: `${base}/validate`, runs: `${base}/runs`, credits: `${base}/agent-credits` },
    });
  });
  return r;
}
