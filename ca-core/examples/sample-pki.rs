//! Writes a complete sample PKI: the fixture generator for the interop checks and a quick way
//! to see what tsca issues.
//!
//! ```text
//! cargo run -p ca-core --example sample-pki -- OUTDIR
//! ```
//!
//! Root (P-384, unconstrained) → regional CA "Europe" (+33, +44, +49, MCC 208/234/262, any
//! SPC) → national CA "France" (+33, MCC 208, any SPC) → operator certificate (P-256, SPC
//! F0042, range +33612340000 + 10000, PLMN 208-01), plus a second operator certificate that is
//! revoked, the national CA's CRL listing it, its delegated OCSP responder, an OCSP request for
//! the operator certificate and signed "good" and "revoked" responses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::issue::{issue, CertificateRequest, IssuedCertificate, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::ocsp::{CertIdHash, CertStatusAnswer, IssuerHashes, Responder, SingleAnswer};
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::revocation::RevocationReason;
use ca_core::time::days;
use der::Encode;
use rand_core::OsRng;
use x509_ocsp::{OcspRequest, Request, TbsRequest, Version};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run -p ca-core --example sample-pki -- OUTDIR");
        return ExitCode::from(2);
    };
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample-pki: {e}");
            ExitCode::FAILURE
        }
    }
}

fn subject(cn: &str, org: &str, country: &str) -> Result<SubjectName> {
    Ok(SubjectName::new(cn, Some(org), Some(country))?)
}

fn scope(entries: &[&str]) -> Result<NumberingScope> {
    Ok(NumberingScope::parse(entries.iter().copied())?)
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn publication(authority: &str) -> Publication {
    Publication {
        crl_url: Some(format!("http://127.0.0.1:8080/crl/{authority}.crl")),
        ocsp_url: Some("http://127.0.0.1:8080/ocsp".into()),
        ca_issuers_url: Some(format!("http://127.0.0.1:8080/ca/{authority}.der")),
    }
}

fn ca(
    profile: Profile,
    name: SubjectName,
    scope: Option<NumberingScope>,
    parent: Option<(&IssuingAuthority, &dyn Signer)>,
    now: SystemTime,
    authority_id: &str,
) -> Result<(SoftwareKey, IssuedCertificate, IssuingAuthority)> {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384)?;
    let request = CertificateRequest {
        profile,
        family: ca_core::profile::ProfileFamily::Tsca,
        subject: name,
        public_key: key.public_key().clone(),
        scope,
        not_before: now,
        validity: None,
    };
    let cert = match parent {
        None => issue(&request, Issuer::SelfSigned, &key, &mut OsRng)?,
        Some((issuer, signer)) => issue(&request, Issuer::Authority(issuer), signer, &mut OsRng)?,
    };
    let authority = IssuingAuthority::new(cert.certificate().clone(), publication(authority_id))?;
    Ok((key, cert, authority))
}

fn run(out: &Path) -> Result<()> {
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // Backdate a minute so that a verifier whose clock is slightly behind still accepts.
    let now = SystemTime::now() - Duration::from_secs(60);

    let (root_key, root, root_ca) = ca(
        Profile::Root,
        subject("tsca Sample Root", "tsca Sample SDO", "CH")?,
        None,
        None,
        now,
        "root",
    )?;
    let (regional_key, regional, regional_ca) = ca(
        Profile::RegionalCa,
        subject("tsca Sample Regional CA Europe", "tsca Sample Region", "BE")?,
        Some(scope(&[
            "prefix:33",
            "prefix:44",
            "prefix:49",
            "mcc:208",
            "mcc:234",
            "mcc:262",
            "spc:*",
        ])?),
        Some((&root_ca, &root_key)),
        now,
        "regional",
    )?;
    let (national_key, national, national_ca) = ca(
        Profile::NationalCa,
        subject(
            "tsca Sample National CA France",
            "tsca Sample Regulator",
            "FR",
        )?,
        Some(scope(&["prefix:33", "mcc:208", "spc:*"])?),
        Some((&regional_ca, &regional_key)),
        now,
        "national",
    )?;

    let operator = |cn: &str| -> Result<(SoftwareKey, IssuedCertificate)> {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
        let request = CertificateRequest {
            profile: Profile::Operator,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: subject(cn, "Sample Telecom SA", "FR")?,
            public_key: key.public_key().clone(),
            scope: Some(scope(&[
                "spc:F0042",
                "range:33612340000+10000",
                "plmn:208-01",
            ])?),
            not_before: now,
            validity: None,
        };
        let cert = issue(
            &request,
            Issuer::Authority(&national_ca),
            &national_key,
            &mut OsRng,
        )?;
        Ok((key, cert))
    };
    let (operator_key, operator_cert) = operator("Sample Telecom F0042")?;
    let (_, revoked_cert) = operator("Sample Telecom F0042 (revoked)")?;

    let responder_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256)?;
    let responder_cert = issue(
        &CertificateRequest {
            profile: Profile::OcspResponder,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: SubjectName::new("tsca Sample National CA France OCSP Responder", None, None)?,
            public_key: responder_key.public_key().clone(),
            scope: None,
            not_before: now,
            validity: None,
        },
        Issuer::Authority(&national_ca),
        &national_key,
        &mut OsRng,
    )?;

    write(out, "root.pem", root.to_pem()?)?;
    write(out, "regional.pem", regional.to_pem()?)?;
    write(out, "national.pem", national.to_pem()?)?;
    write(out, "operator.pem", operator_cert.to_pem()?)?;
    write(
        out,
        "operator-key.pem",
        operator_key.to_pkcs8_pem()?.as_bytes(),
    )?;
    write(out, "revoked.pem", revoked_cert.to_pem()?)?;
    write(out, "ocsp-responder.pem", responder_cert.to_pem()?)?;
    let chain = [&operator_cert, &national, &regional, &root]
        .iter()
        .map(|c| c.to_pem())
        .collect::<std::result::Result<String, _>>()?;
    write(out, "chain.pem", chain)?;

    // The national CA's CRL, listing the revoked operator certificate.
    let revoked_at = now;
    let crl = sign_crl(
        national.certificate(),
        &national_key,
        1,
        now,
        now + days(7),
        [RevokedEntry {
            serial: revoked_cert
                .certificate()
                .tbs_certificate
                .serial_number
                .clone(),
            revoked_at,
            reason: Some(RevocationReason::KeyCompromise),
        }],
    )?;
    write(out, "national.crl", crl)?;

    // OCSP: a request for operator.pem (SHA-1 CertID, as openssl sends), and signed answers
    // for it and for revoked.pem.
    let hashes = IssuerHashes::new(national.certificate())?;
    let operator_serial = &operator_cert.certificate().tbs_certificate.serial_number;
    let revoked_serial = &revoked_cert.certificate().tbs_certificate.serial_number;
    let good_id = hashes.cert_id(CertIdHash::Sha1, operator_serial)?;
    let revoked_id = hashes.cert_id(CertIdHash::Sha1, revoked_serial)?;
    let request = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: good_id.to_cert_id()?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    write(out, "ocsp-request.der", request.to_der()?)?;
    let responder = Responder::new(Arc::new(responder_key), responder_cert.der())?;
    let answer = |cert_id, status| SingleAnswer {
        cert_id,
        status,
        this_update: now,
        next_update: now + days(1),
    };
    let good = responder.sign_response(&[answer(good_id, CertStatusAnswer::Good)], now, None)?;
    write(out, "ocsp-good.der", good)?;
    let revoked = responder.sign_response(
        &[answer(
            revoked_id,
            CertStatusAnswer::Revoked {
                time: revoked_at,
                reason: Some(RevocationReason::KeyCompromise),
            },
        )],
        now,
        None,
    )?;
    write(out, "ocsp-revoked.der", revoked)?;
    Ok(())
}
