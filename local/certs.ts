import { readFileSync } from 'node:fs';

/**
 * TEST-ONLY TLS material for the local stand-ins, generated once by `local/certs/generate.sh`
 * and committed (valid for 100 years). The private keys are public: never trust `ca.pem`
 * outside local tests and `npm start`.
 */
export interface TestCertificates {
  /** The test CA certificate (PEM). Clients trust the local relay with `tls: { ca: testCerts.ca }`. */
  readonly ca: Buffer;
  /** Certificate for `localhost`, 127.0.0.1 and ::1 (subjectAltName), signed by the test CA. */
  readonly server: { readonly cert: Buffer; readonly key: Buffer };
  /** Certificate for `wrong.example` only, signed by the test CA: a valid chain for the wrong host. */
  readonly wrongHost: { readonly cert: Buffer; readonly key: Buffer };
}

const read = (file: string): Buffer => readFileSync(new URL(`./certs/${file}`, import.meta.url));

/** The committed test CA and certificates, loaded once when this module is imported. */
export const testCerts: TestCertificates = {
  ca: read('ca.pem'),
  server: { cert: read('server.pem'), key: read('server-key.pem') },
  wrongHost: { cert: read('wrong-host.pem'), key: read('wrong-host-key.pem') },
};
