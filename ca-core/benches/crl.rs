//! docs/benchmarks.md, Targets S5: sign and encode a CRL of 1,000,000 revoked entries with a P-384 CA key
//! (random 16-byte serials, 10% with a reason code). Target: ≤ 1 s, low memory.
//!
//! Two variants: `streamed` builds each entry inside the iterator (as a store cursor would,
//! so serial allocation is in the timing); `prebuilt` signs from a slice of ready entries
//! (pure encode + sign). Peak RSS (VmHWM) is printed after each, and the CRL size.
//!
//! Run: `cargo bench -p ca-core --bench crl`.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ca_core::crl::{sign_crl, RevokedEntry};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::revocation::RevocationReason;
use ca_core::time::{days, x509_time};
use ca_core::x509::{Certificate, Extension, TbsCertificate};
use criterion::{Criterion, SamplingMode};
use der::asn1::{BitString, OctetString};
use der::Encode;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

const ENTRIES: usize = 1_000_000;

/// splitmix64: fast, deterministic, good enough for benchmark serials.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

const REASONS: [RevocationReason; 4] = [
    RevocationReason::KeyCompromise,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
    RevocationReason::PrivilegeWithdrawn,
];

fn entries(seed: u64, now: SystemTime) -> impl Iterator<Item = RevokedEntry> {
    let mut rng = SplitMix(seed);
    (0..ENTRIES).map(move |_| {
        let mut serial = [0u8; 16];
        serial[..8].copy_from_slice(&rng.next().to_be_bytes());
        serial[8..].copy_from_slice(&rng.next().to_be_bytes());
        serial[0] &= 0x7F; // positive, as tsca's serials are
        let r = rng.next();
        let reason = (r % 10 == 0).then(|| REASONS[(r / 10 % 4) as usize]);
        let revoked_at = now - Duration::from_secs(r % (3 * 365 * 86_400));
        RevokedEntry::new(SerialNumber::new(&serial).unwrap(), revoked_at, reason)
    })
}

fn test_ca(key: &SoftwareKey, now: SystemTime) -> Certificate {
    let name = Name::from_str("CN=tsca bench CA,O=tsca,C=FR").unwrap();
    let ski = SubjectKeyIdentifier(OctetString::new(vec![7u8; 20]).unwrap());
    let tbs = TbsCertificate {
        version: x509_cert::certificate::Version::V3,
        serial_number: SerialNumber::new(&[1]).unwrap(),
        signature: key.algorithm().signature_algorithm(),
        issuer: name.clone(),
        validity: Validity {
            not_before: x509_time(now - days(1)).unwrap(),
            not_after: x509_time(now + days(3650)).unwrap(),
        },
        subject: name,
        subject_public_key_info: key.public_key().clone(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![Extension::new(
            const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &ski,
        )
        .unwrap()]),
    };
    let signature = key.sign(&tbs.to_der().unwrap()).unwrap();
    Certificate {
        signature_algorithm: key.algorithm().signature_algorithm(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(&signature).unwrap(),
    }
}

/// Peak resident set size of this process, from /proc (Linux only).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let now = UNIX_EPOCH + Duration::from_secs(1_750_006_400);
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
    let ca = test_ca(&key, now);
    let next = now + days(7);

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let mut group = criterion.benchmark_group("crl_1m_p384");
    group.sampling_mode(SamplingMode::Flat);

    group.bench_function("streamed", |b| {
        b.iter(|| sign_crl(&ca, &key, 1, now, next, entries(42, now)).unwrap())
    });
    let size = sign_crl(&ca, &key, 1, now, next, entries(42, now))
        .unwrap()
        .len();
    println!(
        "after streamed: CRL {size} bytes ({:.1} MB), peak RSS {}",
        size as f64 / 1e6,
        peak_rss()
    );

    let prebuilt: Vec<RevokedEntry> = entries(42, now).collect();
    group.bench_function("prebuilt", |b| {
        b.iter(|| sign_crl(&ca, &key, 1, now, next, black_box(&prebuilt)).unwrap())
    });
    println!(
        "after prebuilt (includes the {} prebuilt entries): peak RSS {}",
        prebuilt.len(),
        peak_rss()
    );
    group.finish();
    criterion.final_summary();
}
