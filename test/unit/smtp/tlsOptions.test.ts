import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { tlsOptions } from '../../../lambda/core/smtp/session.js';

describe('tlsOptions', () => {
  it('adds an extra CA to the public roots instead of replacing them', () => {
    const options = tlsOptions({ host: 'smtp.example.com', verifyCertificate: true }, 'EXTRA-PEM');
    expect(options.ca).toEqual([...rootCertificates, 'EXTRA-PEM']);
    expect(options).toMatchObject({ rejectUnauthorized: true, minVersion: 'TLSv1.2', servername: 'smtp.example.com' });
  });

  it('leaves Node’s default trust alone without an extra CA, and sends no SNI for IP literals', () => {
    const options = tlsOptions({ host: '192.0.2.1', verifyCertificate: false });
    expect(options.ca).toBeUndefined();
    expect(options.servername).toBeUndefined();
    expect(options.rejectUnauthorized).toBe(false);
  });
});
