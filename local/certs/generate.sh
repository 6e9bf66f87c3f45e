#!/bin/sh
# Regenerates the TEST-ONLY certificate authority and certificates in this directory.
#
#   ca.pem                              the test CA (trust it with nodemailer `tls: { ca }`)
#   server.pem / server-key.pem         localhost, IP 127.0.0.1 and ::1 (SAN), signed by the CA
#   wrong-host.pem / wrong-host-key.pem wrong.example only, signed by the CA: a valid chain
#                                       for the wrong host name ("certificate for the wrong host")
#
# Keys are P-256 (fast handshakes in tests); validity is 100 years so the committed files never
# expire. The CA key is deleted at the end: nothing else is ever signed with it, and a new run
# simply replaces every file. These keys are public; never use them outside local tests.
set -eu
cd "$(dirname "$0")"
DAYS=36500
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/ca-key.pem"
openssl req -x509 -new -key "$WORK/ca-key.pem" -sha256 -days "$DAYS" \
  -subj "/O=mailrelay local test/CN=mailrelay local test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out ca.pem

# issue <name> <common name> <subjectAltName>
issue() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/$1-key.ec.pem"
  # PKCS#8, the form every TLS stack reads
  openssl pkcs8 -topk8 -nocrypt -in "$WORK/$1-key.ec.pem" -out "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/O=mailrelay local test/CN=$2" -out "$WORK/$1.csr"
  cat > "$WORK/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$3
EXT
  openssl x509 -req -in "$WORK/$1.csr" -CA ca.pem -CAkey "$WORK/ca-key.pem" -CAcreateserial \
    -CAserial "$WORK/ca.srl" -sha256 -days "$DAYS" -extfile "$WORK/$1.ext" -out "$1.pem"
}

issue server localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
issue wrong-host wrong.example "DNS:wrong.example"

# test keys, readable like the rest of the checkout
chmod 644 ./*.pem
openssl verify -CAfile ca.pem server.pem wrong-host.pem
