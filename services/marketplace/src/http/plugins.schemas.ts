import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

export const InstallPluginBody = z.object({
  plugin_id: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
});
export type InstallPluginBody = z.infer<typeof InstallPluginBody>;

export const ListPluginsQuery = z.object({ limit: limitParam(50, 100), offset: offsetParam });
export type ListPluginsQuery = z.infer<typeof ListPluginsQuery>;
