import { z } from 'zod';
import { USER_CODE } from '../domain/device.service';

/** Emails are compared trimmed and lower-cased: "Dev@Example.com " and "dev@example.com" are one account. */
export const Email = z
  .string({ error: 'must be a string' })
  .max(254, 'must be at most 254 characters')
  .trim()
  .toLowerCase()
  .pipe(z.email('must be an email address like dev@example.com'));

/** NIST SP 800-63B: at least 8 characters; at most 128 so a password cannot make hashing a denial of service. */
export const NewPassword = z.string({ error: 'must be a string' }).min(8, 'must be at least 8 characters').max(128, 'must be at most 128 characters');

/** Spec 001 `POST /auth/register`. */
export const RegisterBody = z.object({ email: Email, password: NewPassword });
/** Spec 001 `POST /auth/login`; the length rules of registration are not repeated to a guesser. */
export const LoginBody = z.object({ email: Email, password: z.string({ error: 'must be a string' }).min(1, 'is required').max(128, 'must be at most 128 characters') });

/** Spec 001 `POST /auth/wallet`. */
export const WalletBody = z.object({
  message: z.string({ error: 'must be the signed EIP-4361 message as a string' }).min(1, 'is required').max(4096, 'must be at most 4096 characters'),
  signature: z.string({ error: 'must be a string' }).regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 0x-prefixed 65-byte hex signature'),
});

/** Spec 001 `POST /auth/device/poll`. */
export const PollBody = z.object({ device_code: z.string({ error: 'must be a string' }).min(1, 'is required').max(128, 'must be at most 128 characters') });

/** "xyzw 1234", "XYZW1234" and "XYZW-1234" are one code. */
export const UserCodeBody = z.object({
  user_code: z
    .string({ error: 'must be a string' })
    .max(16, 'must look like XYZW-1234')
    .transform((v) => v.toUpperCase().replace(/[\s-]/g, ''))
    .transform((v) => (v.length === 8 ? `${v.slice(0, 4)}-${v.slice(4)}` : v))
    .pipe(z.string().regex(USER_CODE, 'must look like XYZW-1234')),
});
