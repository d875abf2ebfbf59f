import { PrismaClient } from '../generated/prisma/client';
import { pgAdapter } from '@platform/db';

export type Db = PrismaClient;
export const createDb = (url: string): Db => new PrismaClient({ adapter: pgAdapter(url) });
