import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';

export const ProviderServicesQuery = z.object({ limit: limitParam(50, 100), offset: offsetParam });
export type ProviderServicesQuery = z.infer<typeof ProviderServicesQuery>;
