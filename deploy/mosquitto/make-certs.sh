#!/usr/bin/env bash
# Create a private CA and the broker's server certificate for Gatepost's TLS
# listener. Usage: make-certs.sh OUT_DIR BROKER_HOSTNAME [DAYS]
# Devices get OUT_DIR/ca.crt to verify the broker; keep ca.key offline.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR BROKER_HOSTNAME [DAYS]}
host=${2:?broker hostname}
days=${3:-825}
mkdir -p "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Gatepost CA" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
  -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf "subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" "$host" > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days "$days" -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext"
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "CA: $out/ca.crt  server: $out/server.crt ($host, $days days)"
