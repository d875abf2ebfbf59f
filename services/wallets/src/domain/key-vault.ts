import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Agent private keys at rest: AES-256-GCM under WALLET_MASTER_KEY (32 bytes), a fresh 12-byte
 * IV per key, and the agent id as additional authenticated data, so a ciphertext copied onto
 * another agent's row does not decrypt. Stored as `v1.<iv>.<tag>.<ciphertext>` (base64url).
 * Decrypted keys live only in memory for one signature or one export; they are never logged.
 */
const VERSION = 'v1';

export class KeyVault {
  private readonly key: Buffer;

  constructor(masterKeyHex: string) {
    if (!/^[0-9a-fA-F]{64}$/.test(masterKeyHex)) throw new Error('WALLET_MASTER_KEY must be 32 bytes as 64 hex characters');
    this.key = Buffer.from(masterKeyHex, 'hex');
  }

  encrypt(agentId: string, privateKey: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(agentId, 'utf8'));
    const ct = Buffer.concat([cipher.update(privateKey, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  decrypt(agentId: string, sealed: string): string {
    const [version, iv, tag, ct] = sealed.split('.');
    if (version !== VERSION || !iv || !tag || !ct) throw new Error('unrecognised encrypted key format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(agentId, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
}
