#!/usr/bin/env bash
# Interop on what ships: a fresh `tsca quickstart`, judged by someone else's code.
#
#   scripts/interop-quickstart.sh [--profile tsca|shaken] [TSCA_BINARY]
#                                                     (default tsca, target/debug/tsca)
#
# The same story runs on both profile families (docs/profiles.md). In the SHAKEN family the
# CAs sign no CRLs: every step reads the domain's indirect CRL (/crl/domain.crl, signed by
# the domain CRL signer, /ca/domain.der) and the root's CRL, with openssl -extended_crl.
#
# 1. Starts a quickstart on its own ports in a temporary folder and adds, over the REST API
#    as a stranger would (curl), a second operator certificate under the national CA 'france'
#    and a second national CA 'germany' (under the regional CA 'europe') with an operator
#    certificate of its own.
# 2. Fetches every tier's CRL from the publication port (root, europe, france, germany) and
#    runs `openssl verify -crl_check_all` for each operator chain: all must pass. (SHAKEN:
#    the domain CRL and the root's.)
# 3. Revokes at each tier in turn and checks that exactly the chains through the revoked
#    certificate now fail with "certificate revoked", with the CRLs fetched again:
#    - operator: POST /v1/certificates/{fp}/revoke with the operator's token;
#    - national: the same for france's certificate, with the root admin's token;
#    - regional: `tsca ceremony revoke` of europe's certificate on the offline root's folder,
#      then `tsca admin install-crl`; the registry then reports europe and germany retired.
#    secsipidx (the STIR library behind Kamailio) verifies a PASSporT signed with the example
#    operator's key against the root, fetching the chain from the x5u URL over HTTPS, and
#    with its CRL check (-cert-verify 16, -crl-file) refuses it once the certificate is revoked.
# 4. pkilint on every certificate, CRL and OCSP response fetched; Python cryptography loads
#    every certificate, CRL and OCSP response.
#
# Needs: openssl, curl, secsipidx, python3 with pkilint and cryptography (.ci/run installs
# them).
set -euo pipefail
[ -n "${INTEROP_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
profile=tsca
if [ "${1:-}" = --profile ]; then
  profile=$2
  shift 2
fi
case $profile in tsca | shaken) ;; *) echo "--profile tsca or shaken, not $profile" >&2; exit 2 ;; esac
tsca=$(realpath "${1:-target/debug/tsca}")
work=$(mktemp -d)
data=$work/data
registry=https://127.0.0.1:38443
publication=http://127.0.0.1:38080
# shellcheck source=scripts/checks.sh
source scripts/checks.sh

"$tsca" quickstart --profile "$profile" --data-dir "$data" --registry-addr 127.0.0.1:38443 \
  --publication-addr 127.0.0.1:38080 --publication-tls-addr 127.0.0.1:38444 \
  >"$work/quickstart.out" 2>"$work/quickstart.err" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -sf "$publication/healthz" >/dev/null && break
  sleep 0.5
done
curl -sf "$publication/healthz" >/dev/null || { cat "$work/quickstart.err"; echo "quickstart did not start"; exit 1; }
cd "$work"
admin=$(cat "$data/secrets/admin-token")
operator=$(cat "$data/secrets/operator-token")

# api TOKEN METHOD PATH [JSON]: the registry's answer (JSON) on stdout; non-2xx fails the run.
api() {
  local args=(-sS --fail-with-body --cacert "$data/tls/registry.pem" -H "Authorization: Bearer $1" -X "$2")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' -d "$4")
  curl "${args[@]}" "$registry$3"
}
# json EXPR: EXPR (Python, over the JSON document d read from stdin), printed.
json() { python3 -c "import json,sys; print(eval(sys.argv[1], {'d': json.load(sys.stdin)}))" "$1"; }

# enrol TOKEN NAME SCOPE_JSON: a new key and CSR by openssl, the certificate in NAME.pem.
enrol() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$2-key.pem" 2>/dev/null
  openssl req -new -key "$2-key.pem" -subj "/CN=$2" -out "$2.csr" 2>/dev/null
  api "$1" POST /v1/enrolments "$(python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "scope": json.loads(sys.argv[2]), "profile": "operator"}))' "$2.csr" "$3")" \
    | json "d['certificate']['certificate_pem']" >"$2.pem"
}

# A SHAKEN end entity speaks for exactly one SPC, and SHAKEN CA names say SHAKEN.
if [ "$profile" = shaken ]; then
  scope_b='["spc:F0042"]' scope_c='["spc:D0042"]' word=" SHAKEN"
else
  scope_b='["range:33612340000+10000", "spc:F0042"]' scope_c='["range:4930123400+100", "spc:D0042"]' word=""
fi

echo "== setting up ($profile family): a second certificate under france, a national CA germany with an operator"
cp "$data/example-operator/certificate.pem" a.pem
enrol "$operator" b "$scope_b"
europe=$(api "$admin" GET /v1/authorities | json "[a['id'] for a in d['authorities'] if a['name'] == 'europe'][0]")
germany=$(api "$admin" POST /v1/authorities '{"name": "germany", "tier": "national", "parent_id": '"$europe"', "scope": ["prefix:49", "spc:*"], "subject": {"common_name": "Interop'"$word"' National CA Germany", "organization": "Interop Regulator", "country": "DE"}, "auto_approve": true}' | json "d['id']")
created=$(api "$admin" POST /v1/operators '{"authority_id": '"$germany"', "name": "Beispiel Telekom", "country": "DE"}')
operator_de=$(json "d['operator']['id']" <<<"$created")
token_de=$(json "d['token']['token']" <<<"$created")
for resource in range:4930123400+100 spc:D0042; do
  api "$admin" POST /v1/assignments '{"operator_id": '"$operator_de"', "resource": "'"$resource"'"}' >/dev/null
done
enrol "$token_de" c "$scope_c"
for name in europe france germany; do
  curl -sf "$publication/ca/$name.der" -o "$name.der"
  openssl x509 -inform DER -in "$name.der" -out "$name.pem"
done
cp "$data/offline-root/root.pem" root.pem
if [ "$profile" = shaken ]; then
  crl_names="domain root" verify_flags=(-crl_check_all -extended_crl)
  # The domain CRL's signer: openssl finds it among the untrusted certificates.
  curl -sf "$publication/ca/domain.der" -o signer.der || fail "GET /ca/domain.der"
  openssl x509 -inform DER -in signer.der -out signer.pem
else
  crl_names="root europe france germany" verify_flags=(-crl_check_all)
  : >signer.pem
fi
cat france.pem europe.pem signer.pem >untrusted-fr.pem
cat germany.pem europe.pem signer.pem >untrusted-de.pem
cat europe.pem signer.pem >untrusted-eu.pem
cat root.pem signer.pem >untrusted-root.pem

fetch_crls() {
  : >crls.pem
  for name in $crl_names; do
    curl -sf "$publication/crl/$name.crl" -o "$name.crl" || { fail "GET /crl/$name.crl"; continue; }
    openssl crl -inform DER -in "$name.crl" >>crls.pem
  done
}

# expect good|revoked LEAF UNTRUSTED [DEPTH TIER]: openssl verify -crl_check_all through every
# tier; a revoked chain must fail on the certificate at DEPTH (0: the leaf).
expect() {
  local out
  if out=$(openssl verify "${verify_flags[@]}" -CAfile root.pem -untrusted "$3" -CRLfile crls.pem "$2" 2>&1); then
    [ "$1" = good ] && pass "openssl verify ${verify_flags[*]} $2: OK" || fail "openssl verify ${verify_flags[*]} accepted $2 ($5)"
  elif [ "$1" = revoked ] && grep -q "error 23 at $4 depth lookup: certificate revoked" <<<"$out"; then
    pass "openssl verify ${verify_flags[*]} $2: certificate revoked at depth $4 ($5)"
  else
    fail "openssl verify ${verify_flags[*]} $2 (expected $1): $out"
  fi
}

# passport PORT ARGS...: secsipidx's HTTP checker started with ARGS judges identity.txt (OK or
# FAILED); its TLS trust for the x5u URL is the quickstart's certificate (SSL_CERT_FILE).
passport() {
  local port=$1 pid answer
  shift
  SSL_CERT_FILE="$data/tls/registry.pem" secsipidx -http-srv "127.0.0.1:$port" -expire 3600 \
    -timeout 5 "$@" >"secsipidx-$port.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
  answer=$(curl -s --data @identity.txt "http://127.0.0.1:$port/v1/check")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$answer"
}

echo "== secsipidx: a PASSporT signed with the operator's key, chain from x5u"
x5u=$(api "$operator" GET "/v1/certificates/$(openssl x509 -in a.pem -outform DER | sha256sum | cut -d' ' -f1)" | json "d['chain_url']")
secsipidx -sign-full -orig-tn 33612340001 -dest-tn 33612340002 -attest A -x5u "$x5u" \
  -k "$data/example-operator/key.pem" | tr -d '\n' | sed 's/^Result: //' >identity.txt
crl_pem() { curl -sf "$publication/crl/$1.crl" | openssl crl -inform DER; }
# The CRL that lists the example operator's certificate.
leaf_crl=$([ "$profile" = shaken ] && echo domain || echo france)
crl_pem "$leaf_crl" >leaf-crl-before.pem
answer=$(passport 38090 -cert-verify 5 -ca-file root.pem)
[ "$answer" = OK ] && pass "secsipidx verifies against the root (x5u $x5u)" || fail "secsipidx against the root: $answer $(cat secsipidx-38090.log)"
answer=$(passport 38091 -cert-verify 5 -ca-file "$data/tls/registry.pem")
[ "$answer" = FAILED ] && pass "secsipidx refuses it under another root" || fail "secsipidx under another root: $answer"
answer=$(passport 38092 -cert-verify 21 -ca-file root.pem -crl-file leaf-crl-before.pem)
[ "$answer" = OK ] && pass "secsipidx with its CRL check, before revocation" || fail "secsipidx CRL check before revocation: $answer $(cat secsipidx-38092.log)"

echo "== every chain through every tier's CRL"
fetch_crls
expect good a.pem untrusted-fr.pem
expect good b.pem untrusted-fr.pem
expect good c.pem untrusted-de.pem
expect good france.pem untrusted-eu.pem
expect good europe.pem untrusted-root.pem

echo "== revocation of an operator certificate"
fp_a=$(openssl x509 -in a.pem -outform DER | sha256sum | cut -d' ' -f1)
api "$operator" POST "/v1/certificates/$fp_a/revoke" '{"reason": "keyCompromise"}' >/dev/null
fetch_crls
expect revoked a.pem untrusted-fr.pem 0 "operator tier"
crl_pem "$leaf_crl" >leaf-crl-after.pem
answer=$(passport 38093 -cert-verify 21 -ca-file root.pem -crl-file leaf-crl-after.pem)
if [ "$answer" = FAILED ] && grep -q "revoked" secsipidx-38093.log; then
  pass "secsipidx refuses the PASSporT after the revocation (CRL)"
else
  fail "secsipidx after revocation: $answer $(cat secsipidx-38093.log)"
fi
expect good b.pem untrusted-fr.pem
# The responder's answers, kept for pkilint below.
for leaf in a b; do
  openssl ocsp -issuer france.pem -cert "$leaf.pem" -url "$publication/ocsp" -no_nonce \
    -CAfile root.pem -verify_other untrusted-fr.pem -respout "ocsp-$leaf.der" >"ocsp-$leaf.txt" 2>&1 || true
done
grep -q "a.pem: revoked" ocsp-a.txt && pass "openssl ocsp: a.pem revoked" || fail "openssl ocsp a.pem: $(cat ocsp-a.txt)"
grep -q "b.pem: good" ocsp-b.txt && pass "openssl ocsp: b.pem good" || fail "openssl ocsp b.pem: $(cat ocsp-b.txt)"

echo "== revocation of a national CA (by its regional parent, online)"
fp_fr=$(openssl x509 -in france.pem -outform DER | sha256sum | cut -d' ' -f1)
api "$admin" POST "/v1/certificates/$fp_fr/revoke" '{"reason": "cACompromise"}' >/dev/null
fetch_crls
expect revoked b.pem untrusted-fr.pem 1 "national tier"
expect good c.pem untrusted-de.pem
status=$(api "$admin" GET /v1/authorities | json "[a['status'] for a in d['authorities'] if a['name'] == 'france'][0]")
[ "$status" = retired ] && pass "france is retired after its revocation" || fail "france is $status after its revocation"

echo "== revocation of a regional CA (by the offline root, in a ceremony)"
cp "$data/secrets/root-ceremony-passphrase" passphrase
"$tsca" ceremony revoke --root "$data/offline-root" --certificate europe.der \
  --reason cACompromise --passphrase-file passphrase >revoke.out
root_id=$(api "$admin" GET /v1/authorities | json "[a['id'] for a in d['authorities'] if a['name'] == 'root'][0]")
TSCA_TOKEN=$admin "$tsca" admin --registry "$registry" --cacert "$data/tls/registry.pem" \
  install-crl --authority "$root_id" "$data/offline-root/root.crl" >install.out
fetch_crls
expect revoked c.pem untrusted-de.pem 2 "regional tier"
expect revoked europe.pem untrusted-root.pem 0 "regional tier"
statuses=$(api "$admin" GET /v1/authorities | json "sorted(a['name'] for a in d['authorities'] if a['status'] == 'retired')")
[ "$statuses" = "['europe', 'france', 'germany']" ] && pass "europe and everything below it retired" || fail "retired: $statuses"

echo "== pkilint"
for cert in root.pem europe.pem france.pem germany.pem a.pem b.pem c.pem $([ -s signer.pem ] && echo signer.pem); do
  lint lint_pkix_cert lint -s NOTICE "$cert"
done
for name in $crl_names; do
  lint lint_crl lint -t CRL -p PKIX -s NOTICE "$name.crl"
done
for response in ocsp-a.der ocsp-b.der; do
  lint lint_ocsp_response lint -s NOTICE "$response"
done

echo "== Python cryptography"
if PROFILE=$profile python3 - <<'PY'
import os
from cryptography import x509
load = lambda n: x509.load_pem_x509_certificate(open(n, "rb").read())
certs = {n: load(n + ".pem") for n in ["root", "europe", "france", "germany", "a", "b", "c"]}
shaken = os.environ["PROFILE"] == "shaken"
if shaken:
    certs["signer"] = load("signer.pem")
for child, parent in [("europe", "root"), ("france", "europe"), ("germany", "europe"), ("a", "france"), ("b", "france"), ("c", "germany")]:
    certs[child].verify_directly_issued_by(certs[parent])
    dp = certs[child].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [n.value for p in dp for n in p.full_name]
    if shaken:
        # One distribution point: the domain CRL, signed by the signer (cRLIssuer).
        assert urls == ["http://127.0.0.1:38080/crl/domain.crl"], (child, urls)
        assert [n.value for n in dp[0].crl_issuer] == [certs["signer"].subject], child
    else:
        assert urls == [f"http://127.0.0.1:38080/crl/{parent}.crl"], (child, urls)
crl_signers = [("domain", "signer"), ("root", "root")] if shaken else [(n, n) for n in ["root", "europe", "france", "germany"]]
for name, issuer in crl_signers:
    crl = x509.load_der_x509_crl(open(name + ".crl", "rb").read())
    assert crl.is_signature_valid(certs[issuer].public_key()), name
    crl.extensions.get_extension_for_class(x509.CRLNumber)
root_crl = x509.load_der_x509_crl(open("root.crl", "rb").read())
assert root_crl.get_revoked_certificate_by_serial_number(certs["europe"].serial_number) is not None
assert (root_crl.next_update_utc - root_crl.last_update_utc).days <= 366
if shaken:
    # Every revocation of the domain, each entry naming the revoked certificate's issuer.
    domain = x509.load_der_x509_crl(open("domain.crl", "rb").read())
    idp = domain.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical and idp.value.indirect_crl
    for revoked, issuer in [("a", "france"), ("france", "europe"), ("europe", "root")]:
        entry = domain.get_revoked_certificate_by_serial_number(certs[revoked].serial_number)
        assert entry is not None, revoked
        names = entry.extensions.get_extension_for_class(x509.CertificateIssuer).value
        assert list(names) == [x509.DirectoryName(certs[issuer].subject)], (revoked, names)
    assert domain.get_revoked_certificate_by_serial_number(certs["b"].serial_number) is None
from cryptography.x509 import ocsp
for leaf, status in [("a", ocsp.OCSPCertStatus.REVOKED), ("b", ocsp.OCSPCertStatus.GOOD)]:
    response = ocsp.load_der_ocsp_response(open(f"ocsp-{leaf}.der", "rb").read())
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, leaf
    assert response.serial_number == certs[leaf].serial_number and response.certificate_status == status, leaf
print("python cryptography read every certificate, CRL and OCSP response")
PY
then pass "Python cryptography: signatures, distribution points, CRLs, OCSP responses"; else fail "Python cryptography checks"; fi

finish "interop on a quickstart ($profile family)"
