#!/usr/bin/env bash
# docs/operations.md, "From nothing to a running deployment", run natively against
# PostgreSQL: what the systemd units do, with the example configs of deploy/config/ (only
# their paths, addresses and URLs changed for this machine).
#
#   scripts/deploy-native.sh [TSCA_BINARY]       (default target/debug/tsca)
#
# 1. The root ceremony (`tsca ceremony init-root`) in a folder standing for the offline
#    machine's removable media.
# 2. A new PostgreSQL database; the secrets as files readable by their owner only; `tsca
#    migrate`, then `tsca bootstrap` with root.pem and root-policy.json, which prints the
#    first root-admin token.
# 3. A registry node (CA node) and an OCSP-only node, each `tsca serve --config` on its
#    own example config; both must answer /readyz. The OCSP-only node refuses the CA-key
#    passphrase, so it is not given it.
# 4. The root's first CRL installed; a regional CA created, its CSR signed in a ceremony and
#    the certificate installed; a national CA under it (issued at once); an operator with an
#    SPC and numbers; an enrolment with an openssl-made key and CSR.
# 5. Checked by someone else's code: `openssl ocsp` against the OCSP-only node says good,
#    `openssl verify -crl_check_all` with every tier's CRL from the OCSP-only node passes.
#
# Needs: PostgreSQL at $TSCA_TEST_DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/test,
# as in CI), psql, openssl, curl, python3.
set -euo pipefail
[ -n "${DEPLOY_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
root_dir=$(pwd)
tsca=$(realpath "${1:-target/debug/tsca}")
server_url=${TSCA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
server_url=${server_url%/*}
db=tsca_deploy_$$
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$server_url/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${DEPLOY_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }
pass() { echo "ok: $*"; }
registry_port=48443
ocsp_port=48080
ocsp_tls_port=48444
publication=http://127.0.0.1:$ocsp_port
registry=https://127.0.0.1:$registry_port
cd "$work"

echo "== 1. the root ceremony (offline)"
mkdir -p media secrets tls
umask 077
openssl rand -base64 32 >media/passphrase
"$tsca" ceremony init-root --out media/root --common-name "Example Telecom Root" \
  --organization "Example SDO" --country CH \
  --allow prefix:33 --allow mcc:208 --allow spc:* \
  --publication-base-url "$publication" --passphrase-file media/passphrase >ceremony.log
pass "root made: $(grep -o 'SHA-256[^ ]* [0-9A-Fa-f:]*' ceremony.log | head -1)"

echo "== 2. PostgreSQL, secrets, migrate, bootstrap"
psql -q "$server_url/postgres" -c "CREATE DATABASE $db" >/dev/null
echo "$server_url/$db" >secrets/database-url
openssl rand -base64 32 >secrets/key-passphrase
openssl rand -base64 32 >secrets/responder-key-passphrase
umask 022
TSCA_DATABASE_URL=$(cat secrets/database-url) "$tsca" migrate >migrate.log 2>&1 || fail "tsca migrate"
TSCA_DATABASE_URL=$(cat secrets/database-url) "$tsca" bootstrap \
  --root-certificate media/root/root.pem --root-policy media/root/root-policy.json >bootstrap.log 2>&1 \
  || fail "tsca bootstrap"
sed -n 's/^root-admin token (shown once, store it now): //p' bootstrap.log >secrets/admin-token
[ -s secrets/admin-token ] || fail "bootstrap printed no token"
chmod 600 secrets/admin-token
pass "bootstrap printed the first root-admin token"

echo "== 3. a registry node and an OCSP-only node (tsca serve --config)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout tls/registry-key.pem -out tls/registry.pem 2>/dev/null
cp tls/registry.pem tls/pki.pem
cp tls/registry-key.pem tls/pki-key.pem
configure() { # the example config with this machine's paths, addresses and URLs
  sed -e "s|/run/secrets/tsca-database-url|$work/secrets/database-url|" \
    -e "s|/run/secrets/tsca-key-passphrase|$work/secrets/key-passphrase|" \
    -e "s|/run/secrets/tsca-responder-key-passphrase|$work/secrets/responder-key-passphrase|" \
    -e "s|/etc/tsca/tls/|$work/tls/|" \
    -e "s|0.0.0.0:8443|127.0.0.1:$registry_port|" \
    -e "s|0.0.0.0:8080|127.0.0.1:$ocsp_port|" \
    -e "s|0.0.0.0:8444|127.0.0.1:$ocsp_tls_port|" \
    -e "s|http://pki.example.net|$publication|" \
    -e "s|https://pki.example.net:8444|https://127.0.0.1:$ocsp_tls_port|" \
    "$root_dir/deploy/config/$1.toml" >"$1.toml"
}
configure registry
configure ocsp
grep -q 'pki.example.net\|/run/secrets\|/etc/tsca' registry.toml ocsp.toml && fail "a path or URL of the example configs was left"
TSCA_LOG=info "$tsca" serve --config registry.toml >registry.log 2>&1 &
pids+=($!)
ready() { # URL: /readyz answers 200
  for _ in $(seq 1 120); do
    curl -sfk "$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
ready "$registry" || fail "the registry node never became ready"
# The OCSP-only node starts after the registry node has issued the responder certificates.
TSCA_LOG=info "$tsca" serve --config ocsp.toml >ocsp.log 2>&1 &
pids+=($!)
ready "$publication" || fail "the OCSP-only node never became ready"
pass "both nodes ready"

export TSCA_REGISTRY_URL=$registry TSCA_CACERT=$work/tls/registry.pem TSCA_TOKEN_FILE=$work/secrets/admin-token
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== 4. the hierarchy, an operator and its certificate"
"$tsca" admin install-crl --authority 1 media/root/root.crl >/dev/null || fail "install-crl"
pass "the root's first CRL installed"
"$tsca" admin --output json create-authority --name europe --tier regional --parent 1 \
  --scope prefix:33 --scope mcc:208 --scope spc:* --common-name "Example Regional CA Europe" \
  --organization "Example Region" --country BE >europe.json || fail "create-authority europe"
europe=$(json "d['id']" <europe.json)
json "d['csr_pem']" <europe.json >europe.csr
"$tsca" ceremony sign-subca --root media/root --csr europe.csr --tier regional \
  --scope prefix:33 --scope mcc:208 --scope spc:* --common-name "Example Regional CA Europe" \
  --organization "Example Region" --country BE --out europe.pem \
  --passphrase-file media/passphrase >sign.log || fail "sign-subca"
"$tsca" admin install-certificate --authority "$europe" --file europe.pem >install.log || fail "install-certificate"
grep -q "now active" install.log || fail "europe is not active: $(cat install.log)"
pass "regional CA signed in a ceremony and installed"
"$tsca" admin --output json create-authority --name france --tier national --parent "$europe" \
  --scope prefix:33 --scope spc:* --common-name "Example National CA France" \
  --organization "Example Regulator" --country FR --auto-approve >france.json || fail "create-authority france"
france=$(json "d['id']" <france.json)
[ "$(json "d['status']" <france.json)" = active ] || fail "france: $(cat france.json)"
pass "national CA issued at once"
"$tsca" admin --output json create-operator --authority "$france" --name "Acme Mobile" --country FR >acme.json
acme=$(json "d['operator']['id']" <acme.json)
json "d['token']['token']" <acme.json >secrets/acme-token
"$tsca" admin assign --operator "$acme" --resource spc:F0099 >/dev/null
"$tsca" admin assign --operator "$acme" --resource prefix:3375 >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out acme.key
openssl req -new -key acme.key -subj "/CN=Acme" -out acme.csr
python3 -c 'import json; print(json.dumps({"csr": open("acme.csr").read(), "scope": ["prefix:3375"]}))' >enrol.json
code=$(curl -s -o enrolled.json -w '%{http_code}' --cacert tls/registry.pem \
  -H "Authorization: Bearer $(cat secrets/acme-token)" -H 'Content-Type: application/json' \
  -d @enrol.json "$registry/v1/enrolments")
[ "$code" = 201 ] || fail "enrolment answered $code: $(cat enrolled.json)"
json "d['certificate']['certificate_pem']" <enrolled.json >acme.pem
fingerprint=$(json "d['certificate']['fingerprint']" <enrolled.json)
pass "operator enrolled: certificate $fingerprint"

echo "== 5. checked by openssl against the OCSP-only node"
curl -sf "$publication/chains/$fingerprint.pem" -o chain.pem || fail "chain from the OCSP node"
awk '/BEGIN/{n++} n==2' chain.pem >issuer.pem
ocsp=$(openssl ocsp -issuer issuer.pem -cert acme.pem -url "$publication/ocsp" \
  -CAfile media/root/root.pem -verify_other chain.pem 2>&1) || true
echo "$ocsp" | grep -q "Response verify OK" && echo "$ocsp" | grep -q "acme.pem: good" \
  || fail "openssl ocsp: $ocsp"
pass "openssl ocsp: good, response verified"
for ca in root europe france; do
  curl -sf "$publication/crl/$ca.crl" | openssl crl -inform DER || fail "CRL of $ca"
done >crls.pem
verify=$(openssl verify -crl_check_all -CAfile media/root/root.pem -untrusted chain.pem \
  -CRLfile crls.pem acme.pem 2>&1) || fail "openssl verify -crl_check_all: $verify"
pass "openssl verify -crl_check_all: $verify"
echo "deploy-native: all steps passed"
