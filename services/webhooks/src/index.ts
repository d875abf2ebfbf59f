export { webhooksService } from './app';
export { readConfig, configSchema } from './config';
export type { Config } from './config';
