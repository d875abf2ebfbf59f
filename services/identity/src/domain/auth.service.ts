import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { SiweMessage } from 'siwe';
import { getAddress, verifyMessage } from 'ethers';
import { AppError } from '@platform/http';
import type { AuthStore } from './auth.ports';
import type { AttemptLimiter } from './attempts';
import type { TokenIssuer } from './tokens';
import { randomBase62 } from './key-material';

export interface AuthServiceDeps {
  store: AuthStore;
  tokens: TokenIssuer;
  limiter: AttemptLimiter;
  siwe: { domain: string; chainIds: number[]; nonceTtlS: number };
  limits: { perAccount: number; perIp: number };
  clock?: () => Date;
}

/** Tolerated clock skew of a wallet's `Issued At` ahead of ours. */
const SIWE_FUTURE_SKEW_MS = 60_000;

export const REGISTERED_MESSAGE = 'If this email was not registered yet, it is now. Log in with POST /auth/login to get a token.';

/**
 * Spec 001 "Auth Endpoints": email/password (argon2id) and Sign-In with Ethereum. Every
 * success answers a user token from the issuer.
 */
export function createAuthService(deps: AuthServiceDeps) {
  const { store, tokens, limiter } = deps;
  const now = deps.clock ?? (() => new Date());
  // Verified against when the email is unknown, so a miss costs what a wrong password costs.
  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= argonHash(randomBase62(32)));
  const refuseLogin = () => new AppError('UNAUTHORIZED', 'Invalid email or password');
  const refuseSiwe = (why: string) => new AppError('UNAUTHORIZED', why);

  return {
    /**
     * Answers the same for a new and a taken email (same status, same body, same argon2 work),
     * so the endpoint cannot be used to learn who has an account. A taken email is untouched.
     */
    async register(input: { email: string; password: string }) {
      const passwordHash = await argonHash(input.password);
      await store.createEmailUser(input.email, passwordHash);
      return { email: input.email, message: REGISTERED_MESSAGE };
    },

    async login(input: { email: string; password: string }, clientIp: string) {
      const account = `login-account:${input.email}`;
      const address = `login-ip:${clientIp}`;
      // Counted for unknown emails too: a limit that only existing accounts hit would reveal them.
      await limiter.take(
        [
          { bucket: account, max: deps.limits.perAccount },
          { bucket: address, max: deps.limits.perIp },
        ],
        'Too many failed login attempts',
      );
      const user = await store.findUserByEmail(input.email);
      const ok = await argonVerify(user?.passwordHash ?? (await dummyHash()), input.password).catch(() => false);
      if (!user || !user.passwordHash || !ok) throw refuseLogin();
      await limiter.succeeded([address], [account]);
      return { token: await tokens.issue(user.id), user: { id: user.id, email: user.email } };
    },

    /** A single-use nonce for the next SIWE message, with what that message must name. */
    async walletNonce() {
      await limiter.pruneNow();
      const nonce = randomBase62(24);
      const expiresAt = new Date(now().getTime() + deps.siwe.nonceTtlS * 1000);
      await store.insertNonce(nonce, expiresAt);
      return { nonce, domain: deps.siwe.domain, chain_id: deps.siwe.chainIds[0], expires_at: expiresAt.toISOString() };
    },

    /**
     * EIP-4361: the message must name our domain, an accepted chain, a nonce we issued and
     * nobody used, a fresh `Issued At` and no passed `Expiration Time`, and be signed by its
     * address. The nonce is used up only when everything else holds; a replay then fails.
     */
    async wallet(input: { message: string; signature: string }) {
      let msg: SiweMessage;
      try {
        msg = new SiweMessage(input.message);
      } catch {
        throw new AppError('BAD_REQUEST', 'message is not a valid EIP-4361 Sign-In with Ethereum message');
      }
      const at = now();
      if (msg.domain !== deps.siwe.domain) throw refuseSiwe(`Sign-in message must be for domain "${deps.siwe.domain}"`);
      if (!deps.siwe.chainIds.includes(Number(msg.chainId))) throw refuseSiwe(`Sign-in message must name chain id ${deps.siwe.chainIds.join(' or ')}`);
      const issuedAt = msg.issuedAt ? Date.parse(msg.issuedAt) : NaN;
      if (!Number.isFinite(issuedAt)) throw new AppError('BAD_REQUEST', 'message needs an "Issued At" time');
      if (issuedAt > at.getTime() + SIWE_FUTURE_SKEW_MS) throw refuseSiwe('Sign-in message is issued in the future');
      if (issuedAt < at.getTime() - deps.siwe.nonceTtlS * 1000) throw refuseSiwe('Sign-in message is too old; request a new nonce');
      if (msg.expirationTime && Date.parse(msg.expirationTime) <= at.getTime()) throw refuseSiwe('Sign-in message has expired');
      if (msg.notBefore && Date.parse(msg.notBefore) > at.getTime()) throw refuseSiwe('Sign-in message is not valid yet');

      let signer: string;
      try {
        signer = verifyMessage(msg.prepareMessage(), input.signature);
      } catch {
        throw new AppError('BAD_REQUEST', 'signature is not a valid secp256k1 signature');
      }
      if (signer !== getAddress(msg.address)) throw refuseSiwe('Signature does not match the address in the message');
      // The siwe package's own check (domain, nonce binding, times, signature) as a second line.
      const checked = await msg.verify({ signature: input.signature, domain: deps.siwe.domain, nonce: msg.nonce, time: at.toISOString() }, { suppressExceptions: true });
      if (!checked.success) throw refuseSiwe('Sign-in message or signature is not valid');

      if (!(await store.consumeNonce(msg.nonce, at))) {
        throw refuseSiwe('Nonce is unknown, expired or already used; request a new one with POST /auth/wallet/nonce');
      }
      const user = await store.walletUser(getAddress(msg.address));
      return { token: await tokens.issue(user.id), user: { id: user.id, wallet_address: user.walletAddress } };
    },
  };
}
export type AuthService = ReturnType<typeof createAuthService>;
