/** What spec 001 auth needs from storage; db/auth.repository.ts implements it with Prisma. */

export interface UserRecord {
  id: string;
  email: string | null;
  passwordHash: string | null;
  walletAddress: string | null;
}

export type DeviceStatus = 'pending' | 'approved' | 'denied' | 'consumed';

export interface DeviceRecord {
  id: string;
  status: DeviceStatus;
  userId: string | null;
  intervalS: number;
  expiresAt: Date;
  lastPolledAt: Date | null;
}

export interface FailureWindow {
  windowStart: Date;
  failures: number;
}

export interface UserKeyRecord {
  id: string;
  name: string | null;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface AuthStore {
  /** Inserts the user unless the email is taken; answers whether it inserted (nothing changes otherwise). */
  createEmailUser(email: string, passwordHash: string): Promise<boolean>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  /** The user of this wallet, created on first sign-in; concurrent first sign-ins make one user. */
  walletUser(address: string): Promise<UserRecord>;

  insertNonce(nonce: string, expiresAt: Date): Promise<void>;
  /** Deletes the nonce; true only when it existed and had not expired, so each nonce works once. */
  consumeNonce(nonce: string, now: Date): Promise<boolean>;

  /** false when either code hash is taken (a collision the caller retries). */
  insertDevice(d: { deviceCodeHash: string; userCodeHash: string; intervalS: number; expiresAt: Date }): Promise<boolean>;
  deviceByDeviceCode(hash: string): Promise<DeviceRecord | null>;
  deviceByUserCode(hash: string): Promise<DeviceRecord | null>;
  touchDevicePoll(id: string, at: Date): Promise<void>;
  /** pending -> approved/denied while unexpired; answers whether this call decided it. */
  decideDevice(id: string, decision: 'approved' | 'denied', userId: string, at: Date): Promise<boolean>;
  /** approved -> consumed; answers whether this call consumed it (the token is handed out once). */
  consumeDevice(id: string): Promise<boolean>;

  /**
   * Counts one attempt in the bucket's fixed window (a new window when the old one ended) and
   * answers the window after counting. Atomic, so concurrent guesses cannot slip past the limit.
   */
  countAttempt(bucket: string, now: Date, windowS: number): Promise<FailureWindow>;
  /** Takes back one counted attempt (it succeeded). */
  uncountAttempt(bucket: string): Promise<void>;
  clearAttempts(bucket: string): Promise<void>;

  /** A user's spec 001 keys (family ig), revoked ones included, newest first. */
  listUserKeys(ownerId: string, page: { limit: number; offset: number }): Promise<UserKeyRecord[]>;

  /** Deletes expired nonces, device authorizations and failure windows. */
  prune(now: Date, windowS: number): Promise<void>;
}
