#!/bin/sh
# tests/redis/certs.sh - throwaway certificates for the TLS tests.
#
#   certs.sh DIR
#
# Makes in DIR (P-256 keys, quick to generate):
#   ca.crt/key          the test CA
#   server.crt/key      for localhost and 127.0.0.1, signed by the CA
#   named.crt/key       for redis.tokenstore.test only (a name mismatch
#                       when reached as 127.0.0.1)
#   expired.crt/key     for 127.0.0.1, valid only in January 2020
#   client.crt/key      a client certificate signed by the CA
#   other-ca.crt        another CA, which signed none of these
# Nothing here is secret: the files live as long as one test run.
set -eu
[ $# -eq 1 ] || { echo "usage: certs.sh DIR" >&2; exit 1; }
mkdir -p "$1"
cd "$1"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# A certificate for $1 (subject CN $2, extensions $3) signed by the CA.
issue() {
    key "$1"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}

for ca in ca other-ca; do
    key "$ca"
    openssl req -x509 -new -key "$ca.key" -subj "/CN=tokenstore test $ca" -days 2 -sha256 \
        -out "$ca.crt" 2>/dev/null
done
issue server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1"
issue named redis.tokenstore.test "subjectAltName=DNS:redis.tokenstore.test"
issue client "tokenstore client" "extendedKeyUsage=clientAuth"

# openssl x509 cannot date a certificate in the past; openssl ca can.
key expired
openssl req -new -key expired.key -subj "/CN=127.0.0.1" -out expired.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >expired.ext
: >index.txt
cat >ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = ca.serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
echo 01 >ca.serial
openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile expired.ext -notext \
    -out expired.crt >/dev/null 2>&1
chmod 600 ./*.key
# tls_ca may name a directory of certificates under their hash names.
mkdir -p ca.d
cp ca.crt ca.d/
openssl rehash ca.d >/dev/null 2>&1
