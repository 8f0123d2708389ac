//! Path validation: is this chain, leaf first, anchored in a trusted root at `now`, and which
//! numbers may its leaf speak for?
//!
//! For each certificate from the leaf up to the trust anchor (RFC 5280 §6.1, reduced to what
//! tsca's PKI uses, plus the numbering rule of docs/architecture.md §7):
//!
//! 1. the issuer name equals the parent's subject, and the authorityKeyIdentifier equals the
//!    parent's subjectKeyIdentifier;
//! 2. the signature verifies with the parent's key (the outer and inner algorithm agree);
//! 3. every certificate, the anchor included, is within its validity at `now`;
//! 4. the parent is a CA (basicConstraints cA, keyUsage keyCertSign), and its
//!    pathLenConstraint allows the CA certificates below it;
//! 5. no critical extension is unknown;
//! 6. **encompassing**: each certificate's numbering scope is inside the effective scope of
//!    its parent (a CA without a numbering extension passes its parent's on unchanged, so that
//!    foreign chains such as SHAKEN's still validate on TNAuthList alone).
//!
//! Success returns a [`VerifiedPath`], which nothing else can construct, carrying the leaf's
//! effective authorised scope.

use std::time::SystemTime;

use der::Encode;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage};

use crate::error::{Error, Result};
use crate::ext;
use crate::issue::subject_key_identifier;
use crate::numbering::{NumberingScope, ScopeConstraint};
use crate::verify::verify_signature;
use crate::x509::{Certificate, Oid};

/// A successfully validated chain. Only [`verify_path`] constructs it.
#[derive(Debug, Clone)]
pub struct VerifiedPath {
    certificates: Vec<Certificate>,
    leaf_scope: NumberingScope,
}

impl VerifiedPath {
    /// The path, leaf first, ending with the trust anchor.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// The leaf.
    pub fn leaf(&self) -> &Certificate {
        &self.certificates[0]
    }

    /// The trust anchor the path ends in.
    pub fn anchor(&self) -> &Certificate {
        // A path holds at least the leaf and the anchor (verify_path guarantees it).
        &self.certificates[self.certificates.len() - 1]
    }

    /// What the leaf is authorised to speak for: its own numbering extensions, checked to be
    /// inside every issuer's scope above it. Empty when the leaf carries none.
    pub fn leaf_scope(&self) -> &NumberingScope {
        &self.leaf_scope
    }
}

/// Extensions whose meaning this validator knows, so they may be critical.
fn known_extension(id: &Oid) -> bool {
    use const_oid::db::rfc5280 as r;
    [
        r::ID_CE_BASIC_CONSTRAINTS,
        r::ID_CE_KEY_USAGE,
        r::ID_CE_EXT_KEY_USAGE,
        r::ID_CE_SUBJECT_KEY_IDENTIFIER,
        r::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        r::ID_CE_CERTIFICATE_POLICIES,
        r::ID_CE_CRL_DISTRIBUTION_POINTS,
        r::ID_PE_AUTHORITY_INFO_ACCESS,
        ext::ID_CE_NO_REV_AVAIL,
        ext::ID_PE_TN_AUTH_LIST,
        ext::ID_TSCA_NUMBERING_RESOURCES,
    ]
    .iter()
    .any(|k| id == k)
}

struct Facts {
    is_ca: bool,
    path_len: Option<u8>,
    key_usage: Option<KeyUsage>,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    scope: Option<NumberingScope>,
}

fn facts(cert: &Certificate) -> Result<Facts> {
    use const_oid::db::rfc5280 as r;
    let tbs = &cert.tbs_certificate;
    let bc = tbs
        .decode_extension::<BasicConstraints>(
            &Oid::from(r::ID_CE_BASIC_CONSTRAINTS),
            "basicConstraints",
        )?
        .map(|(_, v)| v);
    let key_usage = tbs
        .decode_extension::<KeyUsage>(&Oid::from(r::ID_CE_KEY_USAGE), "keyUsage")?
        .map(|(_, v)| v);
    let aki = tbs
        .decode_extension::<AuthorityKeyIdentifier>(
            &Oid::from(r::ID_CE_AUTHORITY_KEY_IDENTIFIER),
            "authorityKeyIdentifier",
        )?
        .and_then(|(_, v)| v.key_identifier)
        .map(|k| k.as_bytes().to_vec());
    Ok(Facts {
        is_ca: bc.as_ref().is_some_and(|b| b.ca),
        path_len: bc.and_then(|b| b.path_len_constraint),
        key_usage,
        ski: subject_key_identifier(cert)?,
        aki,
        scope: ext::certificate_scope(cert)?,
    })
}

/// Validates `chain` (leaf first; intermediates in order; the anchor may be included or not)
/// against `anchors` at `now`.
pub fn verify_path(
    chain: &[Certificate],
    anchors: &[Certificate],
    now: SystemTime,
) -> Result<VerifiedPath> {
    let Some(leaf) = chain.first() else {
        return Err(Error::InvalidRequest("empty certificate chain".into()));
    };
    let err = |index: usize, cert: &Certificate, reason: String| Error::Path {
        index,
        subject: cert.subject_text(),
        reason,
    };

    // Complete the path with its anchor: the chain's last certificate is either an anchor
    // itself, or was issued by one.
    let mut path: Vec<Certificate> = chain.to_vec();
    let last = &chain[chain.len() - 1];
    let last_is_anchor = anchors.iter().any(|a| a == last);
    if !last_is_anchor {
        let last_aki = facts(last)?.aki;
        let anchor = anchors
            .iter()
            .find(|a| {
                a.tbs_certificate.subject == last.tbs_certificate.issuer
                    && (last_aki.is_none() || subject_key_identifier(a).ok().flatten() == last_aki)
            })
            .ok_or_else(|| {
                err(
                    chain.len() - 1,
                    last,
                    format!(
                        "issuer {} is not a trust anchor and no further certificate was given",
                        last.tbs_certificate.issuer
                    ),
                )
            })?;
        path.push(anchor.clone());
    } else if chain.len() == 1 {
        return Err(err(0, leaf, "the leaf is itself a trust anchor".into()));
    }

    let all_facts = path.iter().map(facts).collect::<Result<Vec<_>>>()?;

    // 3. Validity, and 5. unknown critical extensions, for every certificate.
    for (i, cert) in path.iter().enumerate() {
        let v = &cert.tbs_certificate.validity;
        if now < v.not_before.to_system_time() {
            return Err(err(i, cert, format!("not valid before {}", v.not_before)));
        }
        if now > v.not_after.to_system_time() {
            return Err(err(i, cert, format!("expired at {}", v.not_after)));
        }
        if let Some(e) = cert
            .tbs_certificate
            .extensions()
            .iter()
            .find(|e| e.critical && !known_extension(&e.extn_id))
        {
            return Err(err(
                i,
                cert,
                format!("unknown critical extension {}", e.extn_id),
            ));
        }
    }

    // 1, 2 and 4 for each link, child at i, parent at i + 1.
    for i in 0..path.len() - 1 {
        let (child, parent) = (&path[i], &path[i + 1]);
        let (cf, pf) = (&all_facts[i], &all_facts[i + 1]);
        if child.tbs_certificate.issuer != parent.tbs_certificate.subject {
            return Err(err(
                i,
                child,
                format!(
                    "issuer {} does not match the next certificate's subject {}",
                    child.tbs_certificate.issuer, parent.tbs_certificate.subject
                ),
            ));
        }
        match (&cf.aki, &pf.ski) {
            (Some(aki), Some(ski)) if aki == ski => {}
            (None, _) => return Err(err(i, child, "no authorityKeyIdentifier".into())),
            _ => {
                return Err(err(
                    i,
                    child,
                    "authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier"
                        .into(),
                ))
            }
        }
        if child.signature_algorithm != child.tbs_certificate.signature {
            return Err(err(
                i,
                child,
                "signatureAlgorithm differs from tbsCertificate.signature".into(),
            ));
        }
        let tbs_der = child
            .tbs_certificate
            .to_der()
            .map_err(Error::encode("TBSCertificate"))?;
        verify_signature(
            &child.signature_algorithm,
            &parent.tbs_certificate.subject_public_key_info,
            &tbs_der,
            child.signature.raw_bytes(),
            &child.subject_text(),
        )
        .map_err(|e| {
            err(
                i,
                child,
                format!("signature does not verify with the issuer's key: {e}"),
            )
        })?;
        if !pf.is_ca {
            return Err(err(
                i + 1,
                parent,
                "issues certificates but is not a CA".into(),
            ));
        }
        if !pf.key_usage.as_ref().is_some_and(KeyUsage::key_cert_sign) {
            return Err(err(i + 1, parent, "keyUsage lacks keyCertSign".into()));
        }
        // CA certificates strictly between the parent and the leaf.
        let cas_below = i;
        if let Some(limit) = pf.path_len {
            if cas_below > usize::from(limit) {
                return Err(err(
                    i + 1,
                    parent,
                    format!(
                    "pathLenConstraint {limit} exceeded: {cas_below} CA certificate(s) below it"
                ),
                ));
            }
        }
    }
    let lf = &all_facts[0];
    if !lf.is_ca {
        if let Some(ku) = &lf.key_usage {
            if !ku.digital_signature() {
                return Err(err(
                    0,
                    leaf,
                    "end-entity keyUsage lacks digitalSignature".into(),
                ));
            }
        }
    }

    // 6. Encompassing, from the anchor down.
    let anchor_index = path.len() - 1;
    let mut effective = match &all_facts[anchor_index].scope {
        Some(s) => ScopeConstraint::Within(s.clone()),
        None => ScopeConstraint::Unconstrained,
    };
    for i in (0..anchor_index).rev() {
        if let Some(scope) = &all_facts[i].scope {
            let outside = effective.not_covering(scope);
            if !outside.is_empty() {
                return Err(err(i, &path[i], format!(
                    "numbering scope escalation: {} not covered by the issuer's scope [{effective}]",
                    outside.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )));
            }
            effective = ScopeConstraint::Within(scope.clone());
        }
    }
    let leaf_scope = all_facts[0].scope.clone().unwrap_or_default();
    Ok(VerifiedPath {
        certificates: path,
        leaf_scope,
    })
}

/// Re-encodes and re-signs a modified TBS; for negative tests that need a certificate no
/// profile would produce.
#[cfg(test)]
pub(crate) fn resign(mut cert: Certificate, signer: &dyn crate::keys::Signer) -> Certificate {
    #![allow(clippy::unwrap_used)]
    let der = cert.tbs_certificate.to_der().unwrap();
    cert.signature = der::asn1::BitString::from_bytes(&signer.sign(&der).unwrap()).unwrap();
    cert
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
    use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};
    use crate::profile::{Profile, Publication, SubjectName};
    use crate::time::{days, years};
    use rand_core::OsRng;
    use std::time::{Duration, UNIX_EPOCH};

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_000_000)
    }

    struct Pki {
        root: IssuingAuthority,
        regional_key: SoftwareKey,
        regional: IssuingAuthority,
        national_key: SoftwareKey,
        national: IssuingAuthority,
        operator: Certificate,
    }

    fn request(profile: Profile, key: &SoftwareKey, scope: Option<&[&str]>) -> CertificateRequest {
        CertificateRequest {
            profile,
            family: crate::profile::ProfileFamily::Tsca,
            subject: SubjectName::new(profile.name(), Some("Org"), Some("FR")).unwrap(),
            public_key: key.public_key().clone(),
            scope: scope.map(|s| NumberingScope::parse(s.iter().copied()).unwrap()),
            not_before: t0(),
            validity: None,
        }
    }

    /// A root: its key and its issuing view.
    fn root() -> (SoftwareKey, IssuingAuthority) {
        let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let root_cert = issue(
            &request(Profile::Root, &root_key, None),
            Issuer::SelfSigned,
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let root =
            IssuingAuthority::new(root_cert.certificate().clone(), Publication::default()).unwrap();
        (root_key, root)
    }

    fn pki() -> Pki {
        let (root_key, root) = root();
        let regional_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let regional_cert = issue(
            &request(
                Profile::RegionalCa,
                &regional_key,
                Some(&["prefix:33", "prefix:44", "spc:*", "mcc:208"]),
            ),
            Issuer::Authority(&root),
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let regional =
            IssuingAuthority::new(regional_cert.certificate().clone(), Publication::default())
                .unwrap();
        let national_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let national_cert = issue(
            &request(
                Profile::NationalCa,
                &national_key,
                Some(&["prefix:33", "spc:*", "mcc:208"]),
            ),
            Issuer::Authority(&regional),
            &regional_key,
            &mut OsRng,
        )
        .unwrap();
        let national =
            IssuingAuthority::new(national_cert.certificate().clone(), Publication::default())
                .unwrap();
        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let operator = issue(
            &request(
                Profile::Operator,
                &op_key,
                Some(&["spc:F1", "range:33612340000+10000", "plmn:208-01"]),
            ),
            Issuer::Authority(&national),
            &national_key,
            &mut OsRng,
        )
        .unwrap()
        .certificate()
        .clone();
        Pki {
            root,
            regional_key,
            regional,
            national_key,
            national,
            operator,
        }
    }

    fn chain(p: &Pki) -> Vec<Certificate> {
        vec![
            p.operator.clone(),
            p.national.certificate().clone(),
            p.regional.certificate().clone(),
        ]
    }

    fn reason(e: Error) -> (usize, String) {
        match e {
            Error::Path { index, reason, .. } => (index, reason),
            other => panic!("expected a path error, got {other}"),
        }
    }

    #[test]
    fn valid_chain_gives_the_leaf_scope() {
        let p = pki();
        let anchors = [p.root.certificate().clone()];
        let path = verify_path(&chain(&p), &anchors, t0() + days(1)).unwrap();
        assert_eq!(path.certificates().len(), 4);
        assert_eq!(path.anchor(), p.root.certificate());
        assert_eq!(
            path.leaf_scope().to_string(),
            "range:33612340000+10000, spc:F1, plmn:208-01"
        );
        // The anchor may also be given at the end of the chain.
        let mut with_root = chain(&p);
        with_root.push(p.root.certificate().clone());
        assert!(verify_path(&with_root, &anchors, t0() + days(1)).is_ok());
    }

    #[test]
    fn unknown_anchor_is_refused() {
        let p = pki();
        let other = pki();
        let e = verify_path(
            &chain(&p),
            &[other.root.certificate().clone()],
            t0() + days(1),
        )
        .unwrap_err();
        assert!(reason(e).1.contains("not a trust anchor"));
    }

    #[test]
    fn broken_aki_link_is_refused() {
        let p = pki();
        let mut op = p.operator.clone();
        let exts = op.tbs_certificate.extensions.as_mut().unwrap();
        let aki = exts
            .iter_mut()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .unwrap();
        aki.extn_value = der::asn1::OctetString::new(
            AuthorityKeyIdentifier {
                key_identifier: Some(der::asn1::OctetString::new([7u8; 20]).unwrap()),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }
            .to_der()
            .unwrap(),
        )
        .unwrap();
        let op = resign(op, &p.national_key);
        let mut c = chain(&p);
        c[0] = op;
        let (index, why) =
            reason(verify_path(&c, &[p.root.certificate().clone()], t0() + days(1)).unwrap_err());
        assert_eq!(index, 0);
        assert!(why.contains("authorityKeyIdentifier"), "{why}");
    }

    #[test]
    fn tampered_certificate_fails_its_signature() {
        let p = pki();
        let mut c = chain(&p);
        c[0].tbs_certificate.validity.not_after = c[1].tbs_certificate.validity.not_after;
        let (index, why) =
            reason(verify_path(&c, &[p.root.certificate().clone()], t0() + days(1)).unwrap_err());
        assert_eq!(index, 0);
        assert!(why.contains("signature"), "{why}");
    }

    #[test]
    fn scope_escalation_inside_the_chain_is_refused() {
        let p = pki();
        // The national CA signs an operator certificate for +44 by hand (issuance would
        // refuse it), so only path validation stands in the way.
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let good = issue(
            &request(Profile::Operator, &key, Some(&["number:33612345678"])),
            Issuer::Authority(&p.national),
            &p.national_key,
            &mut OsRng,
        )
        .unwrap();
        let mut cert = good.certificate().clone();
        let exts = cert.tbs_certificate.extensions.as_mut().unwrap();
        let nr = exts
            .iter_mut()
            .find(|e| e.extn_id == ext::ID_TSCA_NUMBERING_RESOURCES)
            .unwrap();
        let wider = NumberingScope::parse(["number:33612345678", "prefix:4420"]).unwrap();
        nr.extn_value =
            der::asn1::OctetString::new(ext::encode_numbering_resources(&wider).unwrap()).unwrap();
        let cert = resign(cert, &p.national_key);
        let mut c = chain(&p);
        c[0] = cert;
        let (index, why) =
            reason(verify_path(&c, &[p.root.certificate().clone()], t0() + days(1)).unwrap_err());
        assert_eq!(index, 0);
        assert!(
            why.contains("prefix:4420") && why.contains("escalation"),
            "{why}"
        );
    }

    #[test]
    fn expired_ca_is_refused() {
        let p = pki();
        // The national CA lives 10 years (cut at the regional's end); after that it is expired.
        let later = t0() + years(10) + days(2);
        let (_, why) =
            reason(verify_path(&chain(&p), &[p.root.certificate().clone()], later).unwrap_err());
        assert!(why.contains("expired"), "{why}");
        let (_, why) = reason(
            verify_path(&chain(&p), &[p.root.certificate().clone()], t0() - days(1)).unwrap_err(),
        );
        assert!(why.contains("not valid before"), "{why}");
    }

    /// Puts `cert` under `issuer` by rewriting its issuer name and AKI and re-signing it.
    fn reparent(
        mut cert: Certificate,
        issuer: &Certificate,
        issuer_key: &dyn Signer,
    ) -> Certificate {
        cert.tbs_certificate.issuer = issuer.tbs_certificate.subject.clone();
        cert.tbs_certificate.signature = issuer_key.algorithm().signature_algorithm();
        cert.signature_algorithm = issuer_key.algorithm().signature_algorithm();
        let exts = cert.tbs_certificate.extensions.as_mut().unwrap();
        let aki = exts
            .iter_mut()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .unwrap();
        let ski = subject_key_identifier(issuer).unwrap().unwrap();
        aki.extn_value = der::asn1::OctetString::new(
            AuthorityKeyIdentifier {
                key_identifier: Some(der::asn1::OctetString::new(ski).unwrap()),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }
            .to_der()
            .unwrap(),
        )
        .unwrap();
        resign(cert, issuer_key)
    }

    #[test]
    fn path_len_exceeded_is_refused() {
        let p = pki();
        // Issuance refuses a CA under the national CA (pathLen 0), so make one under the
        // regional CA and move it below the national CA by hand; then an operator below it.
        let sub_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sub = issue(
            &request(
                Profile::NationalCa,
                &sub_key,
                Some(&["prefix:336", "spc:*"]),
            ),
            Issuer::Authority(&p.regional),
            &p.regional_key,
            &mut OsRng,
        )
        .unwrap();
        let sub = reparent(
            sub.certificate().clone(),
            p.national.certificate(),
            &p.national_key,
        );
        let sub_ca = IssuingAuthority::new(sub.clone(), Publication::default()).unwrap();
        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let op = issue(
            &request(Profile::Operator, &op_key, Some(&["number:33612345678"])),
            Issuer::Authority(&sub_ca),
            &sub_key,
            &mut OsRng,
        )
        .unwrap();
        let c = vec![
            op.certificate().clone(),
            sub,
            p.national.certificate().clone(),
            p.regional.certificate().clone(),
        ];
        let (index, why) =
            reason(verify_path(&c, &[p.root.certificate().clone()], t0() + days(1)).unwrap_err());
        assert_eq!(index, 2, "the national CA's pathLen 0 is what is exceeded");
        assert!(why.contains("pathLenConstraint 0"), "{why}");
    }

    #[test]
    fn end_entity_cannot_issue() {
        let p = pki();
        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let op = issue(
            &request(Profile::Operator, &op_key, Some(&["number:33612345678"])),
            Issuer::Authority(&p.national),
            &p.national_key,
            &mut OsRng,
        )
        .unwrap();
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let child = issue(
            &request(Profile::Operator, &key, Some(&["number:33612345678"])),
            Issuer::Authority(&p.national),
            &p.national_key,
            &mut OsRng,
        )
        .unwrap();
        let child = reparent(child.certificate().clone(), op.certificate(), &op_key);
        let c = vec![
            child,
            op.certificate().clone(),
            p.national.certificate().clone(),
            p.regional.certificate().clone(),
        ];
        let (index, why) =
            reason(verify_path(&c, &[p.root.certificate().clone()], t0() + days(1)).unwrap_err());
        assert_eq!(index, 1);
        assert!(why.contains("not a CA"), "{why}");
    }

    #[test]
    fn rfc8226_numbers_with_hash_and_star_validate_and_match_only_themselves() {
        let (root_key, root) = root();
        let ca_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let ca_scope = ["prefix:33", "number:*67", "range:#30+5", "spc:*"];
        let ca_cert = issue(
            &request(Profile::RegionalCa, &ca_key, Some(&ca_scope)),
            Issuer::Authority(&root),
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let ca =
            IssuingAuthority::new(ca_cert.certificate().clone(), Publication::default()).unwrap();
        let op_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let leaf_scope = ["number:*67", "range:#30+5", "spc:F0042"];
        let op = issue(
            &request(Profile::Operator, &op_key, Some(&leaf_scope)),
            Issuer::Authority(&ca),
            &ca_key,
            &mut OsRng,
        )
        .unwrap();
        let path = verify_path(
            &[op.certificate().clone(), ca_cert.certificate().clone()],
            &[root.certificate().clone()],
            t0() + days(1),
        )
        .unwrap();
        assert_eq!(
            path.leaf_scope(),
            &NumberingScope::parse(leaf_scope).unwrap(),
            "read back from TNAuthList and tscaNumberingResources"
        );
        // `*33…` is not an E.164 number under +33: the CA cannot certify it.
        let outside = issue(
            &request(
                Profile::Operator,
                &op_key,
                Some(&["number:*33", "spc:F0042"]),
            ),
            Issuer::Authority(&ca),
            &ca_key,
            &mut OsRng,
        );
        assert!(outside.is_err(), "{outside:?}");
    }

    #[test]
    fn the_field_shaken_leaf_without_its_chain_names_the_missing_issuer() {
        let pem = include_bytes!("../tests/vectors/shaken-2720-leaf.pem");
        let cert = Certificate::from_pem(pem).unwrap();
        let p = pki();
        let e = verify_path(&[cert], &[p.root.certificate().clone()], t0()).unwrap_err();
        let (_, why) = reason(e);
        assert!(
            why.contains("expired") || why.contains("TransNexus"),
            "{why}"
        );
    }
}
