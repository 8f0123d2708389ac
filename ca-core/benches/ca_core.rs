//! ca-core benchmarks (criterion): signing rates per key algorithm for certificates and OCSP
//! responses, and `is_subset_of` on scopes of 1,000 entries. The 1M-entry CRL is in
//! `benches/crl.rs`. `scripts/bench-ca-core.sh` runs these beside `openssl speed` and writes
//! the report; see docs/benchmarks.md. Benchmarks never assert on time.

#![allow(missing_docs)] // criterion_group! generates undocumented functions
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca_core::issue::{issue, prepare, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::{NumberingResource, NumberingScope};
use ca_core::ocsp::{CertIdHash, CertStatusAnswer, IssuerHashes, Responder, SingleAnswer};
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::time::days;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use rand_core::OsRng;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn subject(cn: &str) -> SubjectName {
    SubjectName::new(cn, Some("Bench"), Some("FR")).expect("valid subject")
}

/// A root and a national CA with the given key algorithm.
fn national(alg: KeyAlgorithm) -> (SoftwareKey, IssuingAuthority) {
    let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).expect("key");
    let root_req = CertificateRequest {
        profile: Profile::Root,
        family: ca_core::profile::ProfileFamily::Tsca,
        subject: subject("Bench Root"),
        public_key: root_key.public_key().clone(),
        scope: None,
        not_before: now(),
        validity: None,
    };
    let root = issue(&root_req, Issuer::SelfSigned, &root_key, &mut OsRng).expect("root");
    let root =
        IssuingAuthority::new(root.certificate().clone(), Publication::default()).expect("root CA");
    let key = SoftwareKey::generate(alg).expect("key");
    let req = CertificateRequest {
        profile: Profile::NationalCa,
        family: ca_core::profile::ProfileFamily::Tsca,
        subject: subject("Bench National"),
        public_key: key.public_key().clone(),
        scope: Some(NumberingScope::parse(["prefix:33", "spc:*", "mcc:208"]).expect("scope")),
        not_before: now(),
        validity: None,
    };
    let cert = issue(&req, Issuer::Authority(&root), &root_key, &mut OsRng).expect("national");
    let publication = Publication {
        crl_url: Some("http://127.0.0.1:8080/crl/fr.crl".into()),
        ocsp_url: Some("http://127.0.0.1:8080/ocsp".into()),
        ca_issuers_url: None,
    };
    (
        key,
        IssuingAuthority::new(cert.certificate().clone(), publication).expect("national CA"),
    )
}

fn certificate_signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("certificate");
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
        let (ca_key, ca) = national(alg);
        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
        let req = CertificateRequest {
            profile: Profile::Operator,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: subject("Bench Operator F0042"),
            public_key: op_key.public_key().clone(),
            scope: Some(
                NumberingScope::parse(["spc:F0042", "range:33612340000+10000"]).expect("scope"),
            ),
            not_before: now(),
            validity: None,
        };
        // The whole issuance: checks, build, lint, sign.
        group.bench_function(format!("issue-{}", alg.name()), |b| {
            b.iter(|| {
                issue(black_box(&req), Issuer::Authority(&ca), &ca_key, &mut OsRng).expect("issue")
            })
        });
        // The signature alone, on a prepared TBS.
        group.bench_function(format!("sign-only-{}", alg.name()), |b| {
            b.iter_batched(
                || prepare(&req, Issuer::Authority(&ca), &mut OsRng).expect("prepare"),
                |tbs| tbs.sign(&ca_key).expect("sign"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

#[allow(clippy::single_element_loop)] // kept as a loop: more responder curves may come
fn ocsp_signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("ocsp");
    // Responder::new requires the OCSP-signing EKU, which only the P-256 responder profile has.
    for alg in [KeyAlgorithm::EcdsaP256] {
        let (ca_key, ca) = national(KeyAlgorithm::EcdsaP384);
        let responder_key = SoftwareKey::generate(alg).expect("key");
        // The responder profile requires P-256; for the P-384 rate, a P-384 responder
        // certificate is issued through the operator profile, which only changes the
        // certificate carried, not the signing work measured.
        let (profile, scope) = match alg {
            KeyAlgorithm::EcdsaP256 => (Profile::OcspResponder, None),
            _ => (
                Profile::Operator,
                Some(NumberingScope::parse(["spc:X1"]).expect("scope")),
            ),
        };
        let req = CertificateRequest {
            profile,
            family: ca_core::profile::ProfileFamily::Tsca,
            subject: subject("Bench OCSP"),
            public_key: responder_key.public_key().clone(),
            scope,
            not_before: now(),
            validity: None,
        };
        let cert = issue(&req, Issuer::Authority(&ca), &ca_key, &mut OsRng).expect("responder");
        let responder = Responder::new(Arc::new(responder_key), cert.der()).expect("responder");
        let hashes = IssuerHashes::new(ca.certificate()).expect("hashes");
        let serial = x509_cert::serial_number::SerialNumber::new(&[0x42; 16]).expect("serial");
        let cert_id = hashes.cert_id(CertIdHash::Sha1, &serial).expect("cert id");
        let answers = [SingleAnswer {
            cert_id,
            status: CertStatusAnswer::Good,
            this_update: now(),
            next_update: now() + days(1),
        }];
        group.bench_function(format!("sign-response-{}", alg.name()), |b| {
            b.iter(|| {
                responder
                    .sign_response(black_box(&answers), now(), Some(&[7u8; 32]))
                    .expect("sign")
            })
        });
    }
    group.finish();
}

fn scope_inclusion(c: &mut Criterion) {
    // 1,000 ranges of 100 numbers each vs an issuer scope of 1,000 prefixes, every range inside.
    let ranges: Vec<NumberingResource> = (0..1000u64)
        .map(|i| {
            format!("range:33{:03}{:06}+100", i, 0)
                .parse()
                .expect("range")
        })
        .collect();
    let prefixes: Vec<NumberingResource> = (0..1000u64)
        .map(|i| format!("prefix:33{i:03}").parse().expect("prefix"))
        .collect();
    let requested = NumberingScope::new(ranges);
    let allowed = NumberingScope::new(prefixes);
    assert!(requested.is_subset_of(&allowed));
    c.bench_function("scope/is_subset_of-1000x1000", |b| {
        b.iter(|| black_box(&requested).is_subset_of(black_box(&allowed)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = certificate_signing, ocsp_signing, scope_inclusion
}
criterion_main!(benches);
