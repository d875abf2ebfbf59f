/**
 * Pre-built configurations, exactly as spec 002 "Templates" lists them. Static by design:
 * they are documentation a client can apply, not state.
 */
export const TEAM_TEMPLATES = [
  {
    name: 'solo',
    agents: 1,
    quality_gates: [{ type: 'quality_score', threshold: 7.0 }],
    description: 'Single agent for individual developers',
  },
  {
    name: 'small_team',
    agents: 4,
    quality_gates: [
      { type: 'quality_score', threshold: 8.0 },
      { type: 'quality_score', threshold: 8.5 },
    ],
    description: 'Collaborative team with keyword routing',
  },
  {
    name: 'enterprise',
    agents: 6,
    quality_gates: [
      { type: 'quality_score', threshold: 8.5 },
      { type: 'quality_score', threshold: 9.0 },
      { type: 'quality_score', threshold: 9.0 },
    ],
    description: 'Production-grade with skill-based routing',
  },
] as const;

export const SERVICE_TEMPLATES = [
  { name: 'ai_api', category: 'ai', price_per_call: '0.05', free_tier_calls: 100 },
  { name: 'data_pipeline', category: 'data', price_per_call: '0.10', free_tier_calls: 50 },
  { name: 'content_api', category: 'content', price_per_call: '0.02', free_tier_calls: 200 },
] as const;
