//! Shared by the responder's integration tests: a small PKI built through the CA engine on a
//! fresh SQLite database, the responder serving it on 127.0.0.1:0, OCSP request builders and
//! a minimal HTTP/1.1 client over a raw TCP stream (so malformed and hostile requests can be
//! sent exactly as written).

#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use ca_core::csr::build_csr;
use ca_core::issue::{issue, CertificateRequest, Issuer, IssuingAuthority};
use ca_core::keys::{KeyAlgorithm, Signer, SoftwareKey};
use ca_core::numbering::NumberingScope;
use ca_core::ocsp::{
    parse_response, BasicResponse, CertIdHash, CertIdKey, IssuerHashes, ParsedResponse,
};
use ca_core::profile::{Profile, Publication, SubjectName};
use ca_core::x509::Certificate;
use ca_service::{
    AssignRequest, AuthorityRequest, Engine, EngineConfig, EnrolRequest, KeyPassphrases, KeyRing,
    OperatorRequest, Principal, ResponderSet, SubjectFields,
};
use ca_store::{ApprovalPolicy, AuthorityId, CertificateRecord, ResponderAccess, Store, Tier};
use der::asn1::OctetString;
use der::Encode;
use ocsp_responder::{OcspConfig, OcspService, OcspSources};
use rand_core::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use x509_cert::ext::Extension;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest, Version};
use zeroize::Zeroizing;

/// The test PKI: offline root → regional CA "europe" (key held) → national CA "france" (key
/// held, approving within assignments) → an operator whose enrolments give the certificates.
pub struct Pki {
    pub engine: Engine,
    pub store: Store,
    pub operator: Principal,
    pub root: Certificate,
    pub regional: Certificate,
    pub national: Certificate,
    pub national_id: AuthorityId,
    pub regional_id: AuthorityId,
    pub dir: tempfile::TempDir,
}

pub const ADMIN: Principal = Principal::Local {
    command: "ocsp-test",
};
pub const RESPONDER_PASSPHRASE: &[u8] = b"responder test passphrase";

fn scope(entries: &[&str]) -> Vec<String> {
    entries.iter().map(|e| (*e).to_owned()).collect()
}

/// The passphrases of a CA node in these tests.
pub fn passphrases() -> KeyPassphrases {
    KeyPassphrases {
        ca: Some(Zeroizing::new(b"ca test passphrase".to_vec())),
        ocsp_responder: Some(Zeroizing::new(RESPONDER_PASSPHRASE.to_vec())),
    }
}

/// An engine on `store` as the tests run it (fast key derivation).
pub fn engine_on(store: Store, ocsp_validity: Duration) -> Engine {
    Engine::new(
        store,
        passphrases(),
        EngineConfig {
            kdf_iterations: 1_000,
            ocsp_validity,
            ..EngineConfig::new("http://127.0.0.1:8080")
        },
    )
}

/// What a responder in the engine's own process uses.
pub fn sources(engine: &Engine) -> OcspSources {
    OcspSources {
        reader: engine.reader().clone(),
        responses: engine.ocsp_responses(),
        responders: engine.responders().clone(),
    }
}

/// What an OCSP-only node opens: its own connections, the responder passphrase and no
/// CA key.
pub async fn ocsp_only_sources(url: &str, ocsp_validity: Duration) -> OcspSources {
    let access = ResponderAccess::open(url, ca_store::DatabaseLimits::default())
        .await
        .unwrap();
    let keys = KeyRing::new(
        access.reader.clone(),
        KeyPassphrases {
            ca: None,
            ocsp_responder: Some(Zeroizing::new(RESPONDER_PASSPHRASE.to_vec())),
        },
        1_000,
    );
    OcspSources {
        responders: ResponderSet::new(access.reader.clone(), keys, ocsp_validity),
        reader: access.reader,
        responses: access.responses,
    }
}

impl Pki {
    pub async fn new() -> Pki {
        Self::with_validity(Duration::from_secs(24 * 3600)).await
    }

    /// A PKI whose pre-signed OCSP responses are valid for `ocsp_validity`.
    pub async fn with_validity(ocsp_validity: Duration) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/tsca.db", dir.path().display());
        Self::build(dir, &url, ocsp_validity).await
    }

    /// The same PKI on the database at `url` (e.g. a fresh PostgreSQL database).
    pub async fn on(url: &str) -> Pki {
        Self::build(
            tempfile::tempdir().unwrap(),
            url,
            Duration::from_secs(24 * 3600),
        )
        .await
    }

    async fn build(dir: tempfile::TempDir, url: &str, ocsp_validity: Duration) -> Pki {
        let store = Store::open(url).await.unwrap();
        let engine = engine_on(store.clone(), ocsp_validity);
        let root_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let root = issue(
            &CertificateRequest {
                profile: Profile::Root,
                family: ca_core::profile::ProfileFamily::Tsca,
                subject: SubjectName::new("tsca OCSP Test Root", Some("Test SDO"), Some("CH"))
                    .unwrap(),
                public_key: root_key.public_key().clone(),
                scope: None,
                not_before: SystemTime::now() - Duration::from_secs(60),
                validity: None,
            },
            Issuer::SelfSigned,
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let root_authority = engine
            .register_root(&ADMIN, "root", root.der())
            .await
            .unwrap();

        // The regional CA: a CSR that the offline root signs, as in the ceremony.
        let regional_scope = &["prefix:33", "prefix:44", "mcc:208", "spc:*"];
        let created = engine
            .create_authority(
                &ADMIN,
                AuthorityRequest {
                    name: "europe".into(),
                    tier: Tier::Regional,
                    parent_id: root_authority.id,
                    scope: scope(regional_scope),
                    subject: SubjectFields {
                        common_name: "tsca Test Regional CA".into(),
                        organization: Some("Test Region".into()),
                        country: Some("BE".into()),
                    },
                    approval: ApprovalPolicy::Manual,
                },
                None,
            )
            .await
            .unwrap()
            .value;
        let csr = ca_core::csr::CheckedCsr::from_pem(created.csr_pem.unwrap().as_bytes()).unwrap();
        let root_issuing = IssuingAuthority::new(
            root.certificate().clone(),
            Publication {
                crl_url: None,
                ocsp_url: None,
                ca_issuers_url: None,
            },
        )
        .unwrap();
        let regional = issue(
            &CertificateRequest {
                profile: Profile::RegionalCa,
                family: ca_core::profile::ProfileFamily::Tsca,
                subject: SubjectName::new("tsca Test Regional CA", Some("Test Region"), Some("BE"))
                    .unwrap(),
                public_key: csr.public_key().clone(),
                scope: Some(NumberingScope::parse(regional_scope.iter().copied()).unwrap()),
                not_before: SystemTime::now() - Duration::from_secs(60),
                validity: None,
            },
            Issuer::Authority(&root_issuing),
            &root_key,
            &mut OsRng,
        )
        .unwrap();
        let regional_authority = engine
            .install_authority_certificate(&ADMIN, created.authority.id, regional.der())
            .await
            .unwrap();

        // The national CA, issued at once by the regional CA whose key is held here.
        let national = engine
            .create_authority(
                &ADMIN,
                AuthorityRequest {
                    name: "france".into(),
                    tier: Tier::National,
                    parent_id: regional_authority.id,
                    scope: scope(&["prefix:33", "mcc:208", "spc:*"]),
                    subject: SubjectFields {
                        common_name: "tsca Test National CA".into(),
                        organization: Some("Test Regulator".into()),
                        country: Some("FR".into()),
                    },
                    approval: ApprovalPolicy::WithinAssignments,
                },
                None,
            )
            .await
            .unwrap()
            .value
            .authority;
        let national_cert =
            Certificate::from_der(national.certificate_der.as_ref().unwrap()).unwrap();

        // The operator whose enrolments give the test certificates.
        let operator = engine
            .create_operator(
                &ADMIN,
                OperatorRequest {
                    authority_id: national.id,
                    name: "Test Telecom".into(),
                    country: "FR".into(),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        for resource in ["spc:F0042", "range:33612340000+10000", "plmn:208-01"] {
            engine
                .assign(
                    &ADMIN,
                    AssignRequest {
                        operator_id: operator.operator.id,
                        resource: resource.into(),
                        valid_from: None,
                        valid_to: None,
                        ported_from: None,
                    },
                    None,
                )
                .await
                .unwrap();
        }
        let principal = engine
            .authenticate(operator.token.secret.unwrap().expose())
            .await
            .unwrap()
            .unwrap();
        Pki {
            engine,
            store,
            operator: principal,
            root: root.certificate().clone(),
            regional: regional.certificate().clone(),
            national: national_cert,
            national_id: national.id,
            regional_id: regional_authority.id,
            dir,
        }
    }

    /// Issues an operator certificate under the national CA (with its first "good" response),
    /// through an enrolment with a fresh key.
    pub async fn issue_operator(&self, name: &str) -> CertificateRecord {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = build_csr(&SubjectName::new(name, None, None).unwrap(), &key).unwrap();
        self.engine
            .enrol(
                &self.operator,
                EnrolRequest {
                    csr_pem: ca_core::x509::pem_encode("CERTIFICATE REQUEST", &csr).unwrap(),
                    scope: scope(&["spc:F0042", "range:33612340000+10000", "plmn:208-01"]),
                    profile: None,
                },
                None,
            )
            .await
            .unwrap()
            .value
            .certificate
            .unwrap()
    }

    /// Revokes a certificate through the gateway, as an admin.
    pub async fn revoke(&self, record: &CertificateRecord, reason: &str) -> CertificateRecord {
        self.engine
            .revoke(&ADMIN, &record.fingerprint().unwrap(), reason, None)
            .await
            .unwrap()
            .value
    }

    /// The national CA's current delegated responder certificate.
    pub async fn responder_cert(&self) -> Certificate {
        let records = self
            .engine
            .reader()
            .responder_certificates(self.national_id)
            .await
            .unwrap();
        Certificate::from_der(&records[0].issued.as_ref().unwrap().der).unwrap()
    }

    /// The CertID of `serial` under the national CA.
    pub fn cert_id(&self, hash: CertIdHash, serial: impl AsRef<[u8]>) -> CertIdKey {
        let hashes = IssuerHashes::new(&self.national).unwrap();
        CertIdKey::new(
            hash,
            hashes.name_hash(hash),
            hashes.key_hash(hash),
            serial.as_ref(),
        )
        .unwrap()
    }
}

/// A responder over `pki`, served by the hardened loop on 127.0.0.1:0.
pub struct Running {
    pub service: OcspService,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn start(pki: &Pki, config: OcspConfig) -> Running {
    start_with(sources(&pki.engine), config).await
}

/// A responder over `sources`, served by the hardened loop on 127.0.0.1:0.
pub async fn start_with(sources: OcspSources, config: OcspConfig) -> Running {
    let service = OcspService::start(sources, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ocsp_responder::serve(
        listener,
        service.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        service,
        addr,
        stop: Some(stop),
    }
}

/// The DER of an OCSPRequest for `ids`, with an RFC 9654 nonce extension when given.
pub fn request(ids: &[CertIdKey], nonce: Option<&[u8]>) -> Vec<u8> {
    request_for(ids.iter().map(|k| k.to_cert_id().unwrap()).collect(), nonce)
}

pub fn request_for(ids: Vec<CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
    let request_extensions = nonce.map(|n| {
        vec![Extension {
            extn_id: const_oid_nonce(),
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).unwrap().to_der().unwrap()).unwrap(),
        }]
    });
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: ids
                .into_iter()
                .map(|req_cert| Request {
                    req_cert,
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// `id-pkix-ocsp-nonce`, 1.3.6.1.5.5.7.48.1.2.
fn const_oid_nonce() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2")
}

/// An HTTP response as read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as an OCSP response (it must be one).
    pub fn ocsp(&self) -> ParsedResponse {
        parse_response(&self.body)
            .unwrap_or_else(|e| panic!("not an OCSP response ({e}): {:?}", self))
    }

    /// The body as a successful OCSP response, verified against `responder`.
    pub fn verified(&self, responder: &Certificate) -> BasicResponse {
        assert_eq!(self.status, 200);
        assert_eq!(
            self.header("content-type"),
            Some("application/ocsp-response")
        );
        match self.ocsp() {
            ParsedResponse::Successful(basic) => {
                basic.verify(responder).unwrap();
                assert_eq!(basic.verify_with_included_cert().unwrap(), responder);
                *basic
            }
            other => panic!("expected a successful response, got {other:?}"),
        }
    }
}

/// Sends `raw` (a complete HTTP/1.1 request, which should ask `Connection: close`) and
/// reads the response until the server closes. The request is written concurrently with the
/// read, so a server that answers before reading a whole (oversized) body is seen answering.
pub async fn send_raw(addr: SocketAddr, raw: Vec<u8>) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&raw).await;
        // Keep the writing half open: shutting it would end the connection on the server.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(writer);
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if complete(&buf) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    write.abort();
    assert!(
        read.is_ok(),
        "no complete response within 10 s; got {:?}",
        String::from_utf8_lossy(&buf)
    );
    parse_http(&buf)
}

/// Whether `buf` holds a whole response (headers and Content-Length bytes of body).
fn complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| buf.len() >= end + 4 + n)
}

pub fn parse_http(buf: &[u8]) -> HttpResponse {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// `POST /ocsp` with `body` and a content type.
pub async fn post(addr: SocketAddr, content_type: &str, body: &[u8]) -> HttpResponse {
    let mut raw = format!(
        "POST /ocsp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, raw).await
}

/// `POST /ocsp` of a DER request.
pub async fn post_ocsp(addr: SocketAddr, der: &[u8]) -> HttpResponse {
    post(addr, "application/ocsp-request", der).await
}

/// `GET {path}`.
pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    send_raw(addr, raw.into_bytes()).await
}

/// The GET path of a DER request: standard base64, `+`, `/` and `=` percent-encoded when
/// `percent_encode`.
pub fn get_path(der: &[u8], percent_encode: bool) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    if percent_encode {
        format!(
            "/ocsp/{}",
            b64.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        )
    } else {
        format!("/ocsp/{b64}")
    }
}
