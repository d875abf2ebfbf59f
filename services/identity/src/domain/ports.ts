import type { EventData, EventType, SqlClient } from '@platform/events';
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
  ownerUserId: string | null;
  createdAt: Date;
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
  findOrganization(id: string): Promise<OrgRecord | null>;
  findUser(id: string): Promise<UserRef | null>;
  findUserByEmail(email: string): Promise<UserRef | null>;
  /** Adds a member unless the user already belongs to an organization; answers whether it did. */
  addMember(m: { orgId: string; userId: string; role: string }): Promise<boolean>;
  findMember(orgId: string, userId: string): Promise<MemberRecord | null>;
  listMembers(orgId: string, page: Page): Promise<{ members: MemberRecord[]; total: number }>;
  setMemberRole(orgId: string, userId: string, role: string): Promise<MemberRecord>;
  removeMember(orgId: string, userId: string): Promise<void>;
  countOwners(orgId: string): Promise<number>;
  /** Serialises membership changes of one org until the transaction ends (last-owner rule). */
  lockOrganization(orgId: string): Promise<void>;
  /** Creates the org's invitation for this email, or refreshes it (new id, role, expiry; pending again). */
  upsertInvitation(i: Omit<InvitationRecord, 'createdAt' | 'acceptedAt' | 'acceptedBy'>): Promise<InvitationRecord>;
  findInvitation(id: string): Promise<InvitationRecord | null>;
  pendingInvitationsFor(email: string, at: Date): Promise<(InvitationRecord & { orgName: string })[]>;
  /** Marks a pending invitation accepted; answers whether this call did. */
  acceptInvitation(id: string, userId: string, at: Date): Promise<boolean>;
}

export interface Page {
  limit: number;
  offset: number;
}

export interface UserRef {
  id: string;
  email: string | null;
}

export interface MemberRecord {
  userId: string;
  email: string | null;
  walletAddress: string | null;
  role: string;
  createdAt: Date;
}

export interface InvitationRecord {
  id: string;
  orgId: string;
  email: string;
  role: string;
  invitedBy: string;
  createdAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
  acceptedBy: string | null;
}

export interface DepartmentRecord {
  id: string;
  orgId: string;
  name: string;
  /** Micro-USDC. */
  budgetLimit: bigint;
  createdAt: Date;
}

export interface DepartmentStats {
  agentCount: number;
  /** Micro-USDC spent by agents while in the department. */
  totalSpend: bigint;
}

/** What identity knows of a wallets agent (wallet.agent.* events). */
export interface WalletAgentFacts {
  agentId: string;
  orgId: string | null;
  ownerId: string;
  name: string;
  departmentId: string | null;
  walletAddress: string | null;
  active: boolean;
  eventAt: Date;
}

export interface DepartmentStore {
  /** Inserts unless the org already has a department of that name; answers the row or null. */
  create(d: { id: string; orgId: string; name: string; budgetLimit: bigint }): Promise<DepartmentRecord | null>;
  findInOrg(orgId: string, id: string): Promise<DepartmentRecord | null>;
  findByName(orgId: string, name: string): Promise<DepartmentRecord | null>;
  list(orgId: string, page: Page): Promise<{ departments: DepartmentRecord[]; total: number }>;
  /** Null when the new name is taken (a concurrent rename won). */
  update(id: string, patch: { name?: string; budgetLimit?: bigint }): Promise<DepartmentRecord | null>;
  delete(id: string): Promise<void>;
  /** Active agents and spend per department id. */
  stats(ids: string[]): Promise<Map<string, DepartmentStats>>;
  /** Active agents and spend of the org's agents in no department. */
  unassigned(orgId: string): Promise<DepartmentStats>;
  walletAgent(agentId: string): Promise<WalletAgentFacts | null>;
  /** The agents of these ids that are known (one query, for a batch of events). */
  walletAgents(agentIds: string[]): Promise<WalletAgentFacts[]>;
  /** Writes the agent's facts unless a newer event already did; answers whether it wrote. */
  saveWalletAgent(a: WalletAgentFacts): Promise<boolean>;
  /** Records a payment once (by payment id); answers whether it was new. */
  recordPayment(p: { paymentId: string; agentId: string; orgId: string; departmentId: string | null; amountMicros: bigint; paidAt: Date }): Promise<boolean>;
  /** recordPayment for many at once; answers how many were new. */
  recordPayments(ps: { paymentId: string; agentId: string; orgId: string; departmentId: string | null; amountMicros: bigint; paidAt: Date }[]): Promise<number>;
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
  /** Spec 002 identities: the full row. */
  insert(a: NewAgentIdentity): Promise<AgentIdentity>;
  /** Inserts unless the id exists (wallet agents arrive at least once); answers the row when it inserted. */
  insertIfAbsent(a: NewAgentIdentity): Promise<AgentIdentity | null>;
  get(id: string): Promise<AgentIdentity | null>;
  list(q: { status: string; limit: number; offset: number }): Promise<AgentIdentity[]>;
  search(q: { text: string; status: string; limit: number; offset: number }): Promise<AgentIdentity[]>;
  update(id: string, patch: AgentPatch): Promise<AgentIdentity>;
  setReputation(id: string, score: number): Promise<void>;
}

export interface AgentIdentity {
  id: string;
  ownerId: string;
  displayName: string;
  identityType: string;
  capabilities: string[];
  walletAddress: string | null;
  metadata: Record<string, unknown>;
  verified: boolean;
  reputationScore: number;
  status: string;
  createdAt: Date;
  updatedAt: Date;
}

export type NewAgentIdentity = Pick<AgentIdentity, 'id' | 'ownerId' | 'displayName' | 'identityType' | 'capabilities' | 'walletAddress' | 'metadata'>;
export type AgentPatch = Partial<Pick<AgentIdentity, 'displayName' | 'capabilities' | 'walletAddress' | 'metadata' | 'status' | 'verified'>>;

export interface EventStager {
  stage<T extends EventType>(type: T, subject: string, data: EventData<T>): Promise<void>;
}

export interface Stores {
  keys: KeyStore;
  orgs: OrgStore;
  agents: AgentStore;
  departments: DepartmentStore;
}

/** Reads outside a transaction; writes inside one, with events staged in the same commit. */
export interface UnitOfWork extends Stores {
  transaction<R>(fn: (tx: Stores & { events: EventStager }) => Promise<R>): Promise<R>;
  /** The same stores bound to a transaction someone else opened (an event consumer's). */
  within(tx: SqlClient): Stores & { events: EventStager };
}
