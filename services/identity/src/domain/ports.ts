import type { EventData, EventType } from '@platform/events';
import type { KeyFamily } from './key-material';

/** What the domain needs from storage; db/*.repository.ts implement these with Prisma. */

export interface KeyRecord {
  id: string;
  family: KeyFamily;
  secretHash: string;
  prefix: string;
  ownerId: string;
  role: string;
  rateLimit: number;
  walletAddress: string | null;
  name: string | null;
  orgId: string | null;
  envId: string | null;
  agentId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export type NewKey = Omit<KeyRecord, 'createdAt' | 'revokedAt' | 'expiresAt'> & { expiresAt?: Date | null };

export interface KeyStore {
  findById(id: string): Promise<KeyRecord | null>;
  findBySecretHash(hash: string): Promise<KeyRecord | null>;
  insert(key: NewKey): Promise<KeyRecord>;
  listByOwner(ownerId: string, family: KeyFamily, page: { limit: number; offset: number }): Promise<KeyRecord[]>;
  /** Marks the key revoked unless it already is; answers whether this call revoked it. */
  revoke(id: string, at: Date): Promise<boolean>;
  ownerHasKeys(ownerId: string): Promise<boolean>;
  /** Serialises key creation per owner until the transaction ends. */
  lockOwner(ownerId: string): Promise<void>;
}

export interface OrgRecord {
  id: string;
  name: string;
}
export interface ProjectRecord {
  id: string;
  slug: string;
}
export interface EnvironmentRecord {
  id: string;
  name: string;
}

export interface OrgStore {
  createOrganization(o: { name: string; agentIdentity: string | null; ownerUserId: string | null }): Promise<OrgRecord>;
  createProject(p: { orgId: string; name: string; slug: string }): Promise<ProjectRecord>;
  createEnvironment(e: { projectId: string; name: string }): Promise<EnvironmentRecord>;
  /** The org a user belongs to (spec 001 has one org per user), if any, and the role there. */
  membershipOf(userId: string): Promise<{ orgId: string; role: string } | null>;
}

export interface AgentRecord {
  id: string;
  ownerId: string;
  displayName: string;
  status: string;
  verified: boolean;
}

export interface AgentStore {
  create(a: { id: string; ownerId: string; displayName: string; capabilities: string[]; callbackUrl: string | null }): Promise<AgentRecord>;
  findById(id: string): Promise<AgentRecord | null>;
}

export interface EventStager {
  stage<T extends EventType>(type: T, subject: string, data: EventData<T>): Promise<void>;
}

export interface Stores {
  keys: KeyStore;
  orgs: OrgStore;
  agents: AgentStore;
}

/** Reads outside a transaction; writes inside one, with events staged in the same commit. */
export interface UnitOfWork extends Stores {
  transaction<R>(fn: (tx: Stores & { events: EventStager }) => Promise<R>): Promise<R>;
}
