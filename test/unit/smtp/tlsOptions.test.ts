import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { secureContextFor, tlsOptions, trustedCas } from '../../../lambda/core/smtp/session.js';
import { CA_FILE } from '../../helpers/localWorld.js';

describe('tlsOptions', () => {
  it('adds an extra CA to the public roots instead of replacing them', () => {
    expect(trustedCas('EXTRA-PEM')).toEqual([...rootCertificates, 'EXTRA-PEM']);
    const ca = readFileSync(CA_FILE);
    const options = tlsOptions({ host: 'smtp.example.com', verifyCertificate: true }, ca);
    expect(options.secureContext).toBe(secureContextFor(ca));
    expect(options).toMatchObject({ rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: 'smtp.example.com' });
  });

  it('builds the TLS context of an extra CA once, not per connection', () => {
    const ca = readFileSync(CA_FILE);
    const first = tlsOptions({ host: 'a.example', verifyCertificate: true }, ca).secureContext;
    const second = tlsOptions({ host: 'b.example', verifyCertificate: true }, ca).secureContext;
    expect(first).toBeDefined();
    expect(second).toBe(first);
  });

  it('leaves Node’s default trust alone without an extra CA, and sends no SNI for IP literals', () => {
    const options = tlsOptions({ host: '192.0.2.1', verifyCertificate: false });
    expect(options.ca).toBeUndefined();
    expect(options.secureContext).toBeUndefined();
    expect(options.servername).toBeUndefined();
    expect(options.rejectUnauthorized).toBe(false);
  });
});
