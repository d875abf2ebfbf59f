import { randomBytes } from 'node:crypto';
import { secretBox } from './secret-box';

describe('secretBox', () => {
  const box = secretBox(randomBytes(32));

  it('opens what it sealed, without the plaintext in the sealed form', () => {
    const sealed = box.seal('whsec_my_webhook_secret', 'wh-1');
    expect(sealed).not.toContain('whsec');
    expect(box.open(sealed, 'wh-1')).toBe('whsec_my_webhook_secret');
  });

  it('seals the same secret differently each time', () => {
    expect(box.seal('s3cretvalue', 'wh-1')).not.toBe(box.seal('s3cretvalue', 'wh-1'));
  });

  it('refuses a ciphertext moved to another webhook, tampered with, or sealed under another key', () => {
    const sealed = box.seal('s3cretvalue', 'wh-1');
    expect(() => box.open(sealed, 'wh-2')).toThrow();
    const parts = sealed.split('.');
    parts[3] = Buffer.from('x' + Buffer.from(parts[3], 'base64url').toString('latin1'), 'latin1').toString('base64url');
    expect(() => box.open(parts.join('.'), 'wh-1')).toThrow();
    expect(() => secretBox(randomBytes(32)).open(sealed, 'wh-1')).toThrow();
  });

  it('insists on a 32-byte key', () => {
    expect(() => secretBox(randomBytes(16))).toThrow(/32 bytes/);
  });
});
