import { isBlockedAddress, checkOutboundUrl, normalizeAllowHosts } from './outbound';

describe('outbound guard', () => {
  it('blocks private, loopback and link-local addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1']) {
      expect(isBlockedAddress(a)).toBe(true);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111']) expect(isBlockedAddress(a)).toBe(false);
  });
  it('refuses loopback targets unless allow-listed', async () => {
    await expect(checkOutboundUrl('http://127.0.0.1:9/x', new Set())).rejects.toThrow(/private, loopback/);
    await expect(checkOutboundUrl('http://localhost:9/x', new Set())).rejects.toThrow(/private, loopback/);
    const ok = await checkOutboundUrl('http://127.0.0.1:9/x', normalizeAllowHosts(['127.0.0.1']));
    expect(ok.address).toBe('127.0.0.1');
  });
  it('refuses other schemes and credentials', async () => {
    await expect(checkOutboundUrl('file:///etc/passwd', new Set())).rejects.toThrow(/http or https/);
    await expect(checkOutboundUrl('http://u:p@example.com/', new Set())).rejects.toThrow(/credentials/);
    await expect(checkOutboundUrl('not a url', new Set())).rejects.toThrow(/not a valid URL/);
  });
});
