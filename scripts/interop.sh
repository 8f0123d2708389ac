#!/usr/bin/env bash
# Interop checks: every artifact ca-core emits is read and judged by someone else's code.
#
#   scripts/interop.sh [OUTDIR]
#
# 1. Generates the sample PKI (cargo run -p ca-core --example sample-pki).
# 2. openssl: verify -x509_strict the operator and responder certificates through the chain,
#    verify the CRL's signature, verify both OCSP responses and read good / revoked.
# 3. pkilint: lint_pkix_cert, lint_crl, lint_ocsp_response; any ERROR or FATAL finding (or a
#    document pkilint cannot load) fails. WARNINGs we keep are explained in docs/profiles.md.
# 4. Python cryptography (a second, independent parser) loads every artifact and checks the
#    fields that matter.
# 5. The same for the SHAKEN family (cargo run -p ca-core --example shaken-pki): openssl
#    verify -crl_check_all -extended_crl with the domain's indirect CRL and the root's CRL,
#    pkilint, and Python cryptography on every SHAKEN profile rule it can see.
#
# Needs: openssl, python3 with pkilint and cryptography (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

out=${1:-$(mktemp -d)}
mkdir -p "$out"
# shellcheck source=scripts/checks.sh
source scripts/checks.sh

echo "== generating the sample PKI in $out"
cargo run -q -p ca-core --example sample-pki -- "$out" >/dev/null

cd "$out"
cat national.pem regional.pem >untrusted.pem

echo "== openssl"
for cert in operator.pem revoked.pem ocsp-responder.pem; do
  if openssl verify -x509_strict -CAfile root.pem -untrusted untrusted.pem "$cert" >/dev/null 2>verify.err; then
    pass "openssl verify -x509_strict $cert"
  else
    fail "openssl verify $cert: $(cat verify.err)"
  fi
done
if openssl verify -x509_strict -CAfile root.pem -untrusted untrusted.pem chain.pem >/dev/null 2>&1; then
  pass "openssl verify chain.pem (leaf first)"
else
  fail "openssl verify chain.pem"
fi
# The CRL: signature by the national CA, and it lists revoked.pem's serial.
if openssl crl -inform DER -in national.crl -CAfile <(cat national.pem regional.pem root.pem) -noout -verify 2>&1 | grep -q "verify OK"; then
  pass "openssl crl -verify national.crl"
else
  fail "openssl crl -verify national.crl"
fi
revoked_serial=$(openssl x509 -in revoked.pem -noout -serial | cut -d= -f2)
if openssl crl -inform DER -in national.crl -noout -text | tr -d ' :' | grep -qi "SerialNumber${revoked_serial}"; then
  pass "national.crl lists revoked.pem ($revoked_serial)"
else
  fail "national.crl does not list revoked.pem ($revoked_serial)"
fi
# full-chain check with the CRL: revoked.pem must fail, operator.pem must pass.
if openssl verify -crl_check -CAfile root.pem -untrusted untrusted.pem -CRLfile <(openssl crl -inform DER -in national.crl) revoked.pem >/dev/null 2>&1; then
  fail "openssl verify -crl_check accepted revoked.pem"
else
  pass "openssl verify -crl_check rejects revoked.pem"
fi
if openssl verify -crl_check -CAfile root.pem -untrusted untrusted.pem -CRLfile <(openssl crl -inform DER -in national.crl) operator.pem >/dev/null 2>&1; then
  pass "openssl verify -crl_check accepts operator.pem"
else
  fail "openssl verify -crl_check rejected operator.pem"
fi
ocsp_check() { # file cert expected
  local text
  if text=$(openssl ocsp -respin "$1" -issuer national.pem -cert "$2" -CAfile root.pem -verify_other untrusted.pem 2>&1) \
     && grep -q "Response verify OK" <<<"$text" && grep -q "$2: $3" <<<"$text"; then
    pass "openssl ocsp -respin $1 verifies and says $3"
  else
    fail "openssl ocsp -respin $1 (expected $3): $text"
  fi
}
ocsp_check ocsp-good.der operator.pem good
ocsp_check ocsp-revoked.der revoked.pem revoked
if openssl ocsp -reqin ocsp-request.der -req_text >/dev/null 2>&1; then
  pass "openssl ocsp -reqin ocsp-request.der parses"
else
  fail "openssl cannot parse ocsp-request.der"
fi

echo "== pkilint"
for cert in root.pem regional.pem national.pem operator.pem revoked.pem ocsp-responder.pem; do
  lint lint_pkix_cert lint -s NOTICE "$cert"
done
lint lint_crl lint -t CRL -p PKIX -s NOTICE national.crl
lint lint_ocsp_response lint -s NOTICE ocsp-good.der
lint lint_ocsp_response lint -s NOTICE ocsp-revoked.der

echo "== Python cryptography (second parser)"
if python3 - <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes

def load(name):
    return x509.load_pem_x509_certificate(open(name, "rb").read())

root, regional, national = load("root.pem"), load("regional.pem"), load("national.pem")
operator, revoked, responder = load("operator.pem"), load("revoked.pem"), load("ocsp-responder.pem")
chain = x509.load_pem_x509_certificates(open("chain.pem", "rb").read())
assert [c.serial_number for c in chain] == [c.serial_number for c in (operator, national, regional, root)], "chain order"
for child, parent in [(operator, national), (national, regional), (regional, root), (root, root), (responder, national)]:
    child.verify_directly_issued_by(parent)
    aki = child.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier if child is not root else None
    ski = parent.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert child is root or aki == ski, "AKI != issuer SKI"
tn = operator.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26"))
assert not tn.critical and tn.value.value.startswith(b"\x30"), "TNAuthList"
eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku
responder.extensions.get_extension_for_class(x509.OCSPNoCheck)

crl = x509.load_der_x509_crl(open("national.crl", "rb").read())
assert crl.is_signature_valid(national.public_key()), "CRL signature"
entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
assert entry is not None, "revoked serial missing from CRL"
assert crl.get_revoked_certificate_by_serial_number(operator.serial_number) is None
assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
    national.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest, "CRL AKI != CA SKI"
crl.extensions.get_extension_for_class(x509.CRLNumber)

req = ocsp.load_der_ocsp_request(open("ocsp-request.der", "rb").read())
assert req.serial_number == operator.serial_number
for name, cert, status in [("ocsp-good.der", operator, ocsp.OCSPCertStatus.GOOD), ("ocsp-revoked.der", revoked, ocsp.OCSPCertStatus.REVOKED)]:
    resp = ocsp.load_der_ocsp_response(open(name, "rb").read())
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == status, (name, resp.certificate_status)
    assert resp.serial_number == cert.serial_number
    assert resp.responder_key_hash is not None, "responder ID must be byKey"
    assert resp.next_update_utc is not None, "nextUpdate must be present"
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes, __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ECDSA"]).ECDSA(resp.signature_hash_algorithm))
print("python cryptography read every artifact")
PY
then pass "Python cryptography parsed and checked every artifact"; else fail "Python cryptography checks"; fi

echo "== the SHAKEN family (cargo run -p ca-core --example shaken-pki)"
shaken="$out/shaken"
(cd "$repo" && cargo run -q -p ca-core --example shaken-pki -- "$shaken" >/dev/null)
cd "$shaken"
cat national.pem regional.pem crl-signer.pem >untrusted.pem
{ openssl crl -inform DER -in domain.crl; openssl crl -inform DER -in root.crl; } >crls.pem
for cert in operator.pem national.pem regional.pem crl-signer.pem; do
  if openssl verify -x509_strict -crl_check_all -extended_crl -CAfile root.pem -untrusted untrusted.pem \
    -CRLfile crls.pem "$cert" >verify.out 2>&1; then
    pass "openssl verify -x509_strict -crl_check_all -extended_crl $cert (domain CRL + root CRL)"
  else
    fail "openssl verify -crl_check_all -extended_crl $cert: $(cat verify.out)"
  fi
done
revoked_verdict=$(openssl verify -crl_check_all -extended_crl -CAfile root.pem -untrusted untrusted.pem \
  -CRLfile crls.pem revoked.pem 2>&1 || true)
if grep -q "error 23 at 0 depth lookup: certificate revoked" <<<"$revoked_verdict"; then
  pass "the domain's indirect CRL revokes revoked.pem"
else
  fail "openssl did not find revoked.pem in the indirect domain CRL"
fi
for cert in root.pem regional.pem national.pem operator.pem revoked.pem crl-signer.pem; do
  lint lint_pkix_cert lint -s NOTICE "$cert"
done
lint lint_crl lint -t CRL -p PKIX -s NOTICE domain.crl
lint lint_crl lint -t ARL -p PKIX -s NOTICE root.crl
if python3 - <<'PY'
import hashlib
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtensionOID
load = lambda n: x509.load_pem_x509_certificate(open(n, "rb").read())
root, regional, national = load("root.pem"), load("regional.pem"), load("national.pem")
operator, revoked, signer = load("operator.pem"), load("revoked.pem"), load("crl-signer.pem")
CP = x509.ObjectIdentifier("2.16.840.1.114569.1.1.4")
TN = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")
for cert, issuer in [(root, root), (regional, root), (national, regional), (operator, national), (signer, root)]:
    cert.verify_directly_issued_by(issuer)
    assert cert.signature_hash_algorithm.name == "sha256" and cert.public_key().curve.name == "secp256r1"
    bits = cert.public_key().public_bytes(__import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.X962, __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).PublicFormat.UncompressedPoint)
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == hashlib.sha1(bits).digest(), "SKI = SHA-1"
    names = {a.oid: a.value for a in cert.subject}
    assert NameOID.COUNTRY_NAME in names and NameOID.ORGANIZATION_NAME in names and NameOID.SERIAL_NUMBER in names
    assert "SHAKEN" in names[NameOID.COMMON_NAME]
    oids = {e.oid for e in cert.extensions}
    assert ExtensionOID.AUTHORITY_INFORMATION_ACCESS not in oids
    assert x509.ObjectIdentifier("1.3.6.1.4.1.32473.1.1.1") not in oids, "no tscaNumberingResources"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and cert.extensions.get_extension_for_class(x509.BasicConstraints).critical
    if cert in (regional, national, operator):
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        assert [p.policy_identifier for p in policies] == [CP]
        dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert len(dp) == 1 and dp[0].crl_issuer[0].value == signer.subject
assert "ROOT" in root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
assert ExtensionOID.CERTIFICATE_POLICIES not in {e.oid for e in root.extensions}
assert operator.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example Telecom SHAKEN F0042"
assert operator.extensions.get_extension_for_oid(TN).value.value == bytes.fromhex("3009a00716054630303432")
assert signer.extensions.get_extension_for_class(x509.KeyUsage).value.crl_sign
crl = x509.load_der_x509_crl(open("domain.crl", "rb").read())
assert crl.is_signature_valid(signer.public_key()) and crl.issuer == signer.subject
assert crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value.indirect_crl
entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
issuer_ext = entry.extensions.get_extension_for_class(x509.CertificateIssuer)
assert issuer_ext.critical and issuer_ext.value[0].value == national.subject
assert crl.get_revoked_certificate_by_serial_number(operator.serial_number) is None
print("python cryptography checked the SHAKEN family")
PY
then pass "Python cryptography: SHAKEN profile fields, indirect CRL"; else fail "Python cryptography SHAKEN checks"; fi

finish "interop"
