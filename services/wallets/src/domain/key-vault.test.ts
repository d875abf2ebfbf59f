import { randomBytes } from 'node:crypto';
import { KeyVault } from './key-vault';

describe('KeyVault', () => {
  const master = randomBytes(32).toString('hex');
  const pk = `0x${randomBytes(32).toString('hex')}`;

  it('round-trips a key and never stores it in the clear', () => {
    const vault = new KeyVault(master);
    const sealed = vault.encrypt('agent-1', pk);
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain(pk.slice(2));
    expect(vault.encrypt('agent-1', pk)).not.toBe(sealed);
    expect(vault.decrypt('agent-1', sealed)).toBe(pk);
  });

  it('refuses another agent id, another master key and a tampered ciphertext', () => {
    const vault = new KeyVault(master);
    const sealed = vault.encrypt('agent-1', pk);
    expect(() => vault.decrypt('agent-2', sealed)).toThrow();
    expect(() => new KeyVault(randomBytes(32).toString('hex')).decrypt('agent-1', sealed)).toThrow();
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[3], 'base64url');
    ct[0] ^= 1;
    expect(() => vault.decrypt('agent-1', [...parts.slice(0, 3), ct.toString('base64url')].join('.'))).toThrow();
  });

  it('needs a 32-byte hex master key', () => {
    expect(() => new KeyVault('abc')).toThrow(/WALLET_MASTER_KEY/);
  });
});
