import { SecretHasher, parseCredential, randomBase62, newAcfKeyId, newAcfSecret, newBksKey, newPaKey, newIgKey, displayPrefix } from './key-material';
import { slugify } from './onboarding.service';

describe('key material', () => {
  it('makes tokens of the documented shapes', () => {
    expect(newAcfKeyId()).toMatch(/^acf_[A-Za-z0-9]{16}$/);
    expect(newAcfSecret()).toMatch(/^sec_[A-Za-z0-9]{40}$/);
    expect(newBksKey()).toMatch(/^bks_live_[A-Za-z0-9]{40}$/);
    expect(newPaKey()).toMatch(/^pa_[A-Za-z0-9]{40}$/);
    expect(newIgKey('test')).toMatch(/^ig_test_[A-Za-z0-9]{40}$/);
    expect(new Set(Array.from({ length: 200 }, () => randomBase62(16))).size).toBe(200);
    expect(displayPrefix('bks_live_abcdefgh')).toBe('bks_live_abcd');
  });

  it('hashes with the pepper and compares in constant time', () => {
    const a = new SecretHasher('p'.repeat(32));
    const b = new SecretHasher('q'.repeat(32));
    const h = a.hash('sec_x');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash('sec_x')).not.toBe(h);
    expect(a.matches('sec_x', h)).toBe(true);
    expect(a.matches('sec_y', h)).toBe(false);
    expect(a.matches('sec_x', 'abc')).toBe(false);
    expect(() => new SecretHasher('short')).toThrow(/32/);
  });

  it('recognises each credential family and nothing else', () => {
    const id = newAcfKeyId();
    const secret = newAcfSecret();
    expect(parseCredential(`${id}:${secret}`)).toEqual({ family: 'acf', keyId: id, secret });
    expect(parseCredential(newBksKey())?.family).toBe('bks');
    expect(parseCredential(newPaKey())?.family).toBe('pa');
    expect(parseCredential(newIgKey('live'))?.family).toBe('ig');
    for (const bad of [id, `${id}:`, 'pa_short', 'bks_test_' + 'a'.repeat(40), 'eyJ.x.y', '']) expect(parseCredential(bad)).toBeNull();
  });

  it('slugs project names', () => {
    expect(slugify('default')).toBe('default');
    expect(slugify('  My Agent Project! ')).toBe('my-agent-project');
    expect(slugify('Crème brûlée')).toBe('creme-brulee');
    expect(slugify('!!!')).toBe('');
    expect(slugify('a'.repeat(100))).toHaveLength(64);
  });
});
