import { loadConfig, serviceBaseSchema, port } from '@platform/config';

export const configSchema = serviceBaseSchema.extend({ PORT: port(8106) });
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
