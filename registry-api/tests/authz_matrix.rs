//! The registry's authorisation matrix: every route of the router × every kind of caller, on
//! SQLite and (when TSCA_TEST_DATABASE_URL is set) PostgreSQL.
//!
//! The world: an offline root; a regional CA under it; two sibling national authorities, A
//! ("italy") and B ("vatican"), each with an admin token and an operator (opA, opB) that
//! holds assignments, an issued certificate and a pending enrolment (both authorities approve
//! by hand). The callers: the root admin, the regional admin (A and B are its subtree), A's
//! admin, B's admin, opA, opB, an auditor, and three that must never get in: no token, a
//! revoked root-admin token and a token that was never issued.
//!
//! The table below says, for every route and for a target object belonging to tenant A,
//! which status each caller gets. A 2xx cell is an allowed call and must succeed; any other
//! cell is a refusal, which must come with exactly that status as problem+json and must leave
//! everything as it was: the audit log's length and head hash, and every authority, operator,
//! assignment, enrolment, certificate and watched token. B's admin and opB acting on A's
//! objects are the cross-tenant cases; list answers to tenant callers are checked to hold
//! only what the caller may see.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::StatusCode;
use ca_core::profile::Profile;
use ca_service::{OsEntropy, TokenRequest, TokenSecret};
use ca_store::testing::TestDatabase;
use ca_store::{
    AssignmentId, AuthorityId, CertificateFilter, ChainVerdict, EnrolmentId, EnrolmentStatus,
    StoreReader, TokenGrant, TokenId,
};
use common::{harness_with, operator_csr, Harness};
use registry_api::RegistryConfig;
use serde_json::{json, Value};

// ---- the callers --------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Who {
    Root,
    Regional,
    AdminA,
    AdminB,
    OpA,
    OpB,
    Auditor,
    NoToken,
    Revoked,
    Garbage,
}

use Who::*;

/// The callers with a live token, in the order of the table's columns.
const TOKEN_HOLDERS: [Who; 7] = [Root, Regional, AdminA, AdminB, OpA, OpB, Auditor];
/// Everyone, the table's columns first.
const EVERYONE: [Who; 10] = [
    Root, Regional, AdminA, AdminB, OpA, OpB, Auditor, NoToken, Revoked, Garbage,
];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Root => "root-admin",
            Regional => "regional admin (parent of A and B)",
            AdminA => "A's admin",
            AdminB => "B's admin (other tenant)",
            OpA => "operator opA",
            OpB => "operator opB (other tenant)",
            Auditor => "auditor",
            NoToken => "no token",
            Revoked => "revoked root-admin token",
            Garbage => "never-issued token",
        }
    }
}

// ---- the table ----------------------------------------------------------------------------

const OK: u16 = 200;
const CREATED: u16 = 201;
const ACCEPTED: u16 = 202;
/// Authenticated, but this role or tenant may not.
const DENIED: u16 = 403;
/// Refused as if the object did not exist: certificate lookups hide other tenants'
/// certificates (the chain repository is their public view).
const HIDDEN: u16 = 404;
/// Authorised, but the request itself is refused (state or numbering rules).
const INVALID: u16 = 422;
/// Authorised, but the record is not in a state that allows it.
const CONFLICT: u16 = 409;

/// What a row acts on. Targets belong to tenant A unless named otherwise; for calls that
/// succeed and change something, a fresh object of the same kind is made first, so that the
/// table's later rows still find the shared fixtures as they were.
#[derive(Clone, Copy, Debug)]
enum Target {
    NewAuthorityUnderRegional,
    NewAuthorityUnderA,
    Authorities,
    AuthorityA,
    RegionalAuthority,
    /// A regional CA under the offline root, waiting for its ceremony-signed certificate.
    AwaitingAuthority,
    /// B's certificate sent to A, which already has one of its own (sending A's own again
    /// is an idempotent PUT that changes nothing).
    ActiveAuthorityA,
    /// The root's CRL: a newer one for a call expected to succeed, else the one installed
    /// at setup.
    RootCrl,
    /// The domain CRL signer of the root, which is a tsca-family root: only its admin gets
    /// as far as the family check (422 shaken-root-only).
    RootCrlSigner,
    NewOperatorInA,
    Operators,
    OperatorsOfA,
    OperatorA,
    /// A token of the named identity, other than the one that identity calls with.
    TokenOf(Who),
    /// The very token the caller is using.
    OwnToken,
    /// `?role=root-admin`: the tokens that belong to no authority or operator.
    RootAdminTokens,
    NewAssignmentForOpA,
    /// B's operator receives a block that opA holds, as a port from opA (B's scope overlaps
    /// A's there, as docs/architecture.md §7 allows for siblings).
    PortFromOpAToOpB,
    AssignmentsOfOpA,
    AssignmentOfOpA,
    /// A new end for one of opA's assignments.
    AssignmentEndOfOpA,
    NewEnrolmentForOpA,
    PendingEnrolments,
    PendingEnrolmentsOfA,
    PendingEnrolmentOfOpA,
    Certificates,
    CertificatesIssuedByA,
    CertificatesOfOpA,
    CertificateOfOpA,
    Audit,
    Chain,
    Crl,
    CaCertificate,
    TrustAnchors,
    LookupE164,
    LookupPlmn,
    OpenApi,
    Healthz,
    Readyz,
    Metrics,
}

use Target::*;

struct Case {
    method: &'static str,
    /// The route as the router and the OpenAPI document spell it.
    route: &'static str,
    target: Target,
    /// Status per token holder, in [`TOKEN_HOLDERS`] order; callers without a valid token
    /// get 401 on every authenticated route.
    expect: [u16; 7],
    /// Public routes answer everyone, with or without a token.
    public: bool,
    list: Option<ListCheck>,
}

/// An allowed list answer: the JSON array under `key` may hold only what the caller may
/// see, and must not be empty for `non_empty_for` (so the filter is not vacuous).
struct ListCheck {
    key: &'static str,
    non_empty_for: &'static [Who],
}

fn case(method: &'static str, route: &'static str, target: Target, expect: [u16; 7]) -> Case {
    Case {
        method,
        route,
        target,
        expect,
        public: false,
        list: None,
    }
}

fn public(route: &'static str, target: Target) -> Case {
    Case {
        method: "GET",
        route,
        target,
        expect: [OK; 7],
        public: true,
        list: None,
    }
}

impl Case {
    fn list(mut self, key: &'static str, non_empty_for: &'static [Who]) -> Self {
        self.list = Some(ListCheck { key, non_empty_for });
        self
    }

    fn expected(&self, who: Who) -> StatusCode {
        let code = match TOKEN_HOLDERS.iter().position(|w| *w == who) {
            Some(column) => self.expect[column],
            None if self.public => OK,
            None => 401,
        };
        StatusCode::from_u16(code).unwrap()
    }
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        //                                                                              root     regional adminA   adminB   opA      opB      auditor
        // Authorities. A national CA (pathLen 0) cannot sign a sub-CA: the admins of A get past
        // authorisation there and are refused by the engine, B's admin is refused before.
        case("POST", "/v1/authorities", NewAuthorityUnderRegional,                     [CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("POST", "/v1/authorities", NewAuthorityUnderA,                            [INVALID, INVALID, INVALID, DENIED,  DENIED,  DENIED,  DENIED]),
        // The hierarchy is public (CA certificates, CRLs): every token may list and read it.
        case("GET",  "/v1/authorities", Authorities,                                   [OK,      OK,      OK,      OK,      OK,      OK,      OK]),
        case("GET",  "/v1/authorities/{id}", AuthorityA,                               [OK,      OK,      OK,      OK,      OK,      OK,      OK]),
        // Only an admin of the parent installs a certificate; the root's children: root-admin.
        case("PUT",  "/v1/authorities/{id}/certificate", AwaitingAuthority,            [OK,      DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("PUT",  "/v1/authorities/{id}/certificate", ActiveAuthorityA,             [CONFLICT, CONFLICT, DENIED, DENIED,  DENIED,  DENIED,  DENIED]),
        // Only the root's admin installs the root's CRL.
        case("PUT",  "/v1/authorities/{id}/crl", RootCrl,                              [OK,      DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        // Only the root's admin manages a SHAKEN domain's CRL signer; this root is tsca-family.
        case("GET",  "/v1/authorities/{id}/crl-signer", RootCrlSigner,                 [INVALID, DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("POST", "/v1/authorities/{id}/crl-signer", RootCrlSigner,                 [INVALID, DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("PUT",  "/v1/authorities/{id}/crl-signer", RootCrlSigner,                 [INVALID, DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("POST", "/v1/authorities/{id}/tokens", AuthorityA,                        [CREATED, CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED]),
        // No climbing: A's admin cannot mint a token for its parent.
        case("POST", "/v1/authorities/{id}/tokens", RegionalAuthority,                 [CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),

        // Operators.
        case("POST", "/v1/operators", NewOperatorInA,                                  [CREATED, CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED]),
        case("GET",  "/v1/operators", Operators,                                       [OK,      OK,      OK,      OK,      OK,      OK,      OK])
            .list("operators", &[Root, Regional, AdminA, AdminB, OpA, OpB, Auditor]),
        case("GET",  "/v1/operators", OperatorsOfA,                                    [OK,      OK,      OK,      OK,      OK,      OK,      OK])
            .list("operators", &[Root, Regional, AdminA, OpA, Auditor]),
        case("GET",  "/v1/operators/{id}", OperatorA,                                  [OK,      OK,      OK,      DENIED,  OK,      DENIED,  OK]),
        case("POST", "/v1/operators/{id}/tokens", OperatorA,                           [CREATED, CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED]),
        // Token listings (never secrets): an operator's to itself and the admins above it, an
        // authority's admin tokens to the admins above and in it, the rest to the root admin;
        // the auditor reads them all.
        case("GET",  "/v1/operators/{id}/tokens", OperatorA,                           [OK,      OK,      OK,      DENIED,  OK,      DENIED,  OK])
            .list("tokens", &[Root, Regional, AdminA, OpA, Auditor]),
        case("GET",  "/v1/authorities/{id}/tokens", AuthorityA,                        [OK,      OK,      OK,      DENIED,  DENIED,  DENIED,  OK])
            .list("tokens", &[Root, Regional, AdminA, Auditor]),
        case("GET",  "/v1/tokens", RootAdminTokens,                                    [OK,      DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  OK])
            .list("tokens", &[Root, Auditor]),

        // Tokens: admins revoke tokens in their subtree; an operator only the one it uses, not
        // even another token of its own account; the auditor none.
        // Another's token is hidden (404, as a missing one), so token ids cannot be probed.
        case("DELETE", "/v1/tokens/{id}", TokenOf(OpA),                                [OK,      OK,      OK,      HIDDEN,  HIDDEN,  HIDDEN,  DENIED]),
        case("DELETE", "/v1/tokens/{id}", TokenOf(AdminA),                             [OK,      OK,      OK,      HIDDEN,  HIDDEN,  HIDDEN,  DENIED]),
        case("DELETE", "/v1/tokens/{id}", TokenOf(Regional),                           [OK,      OK,      HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  DENIED]),
        case("DELETE", "/v1/tokens/{id}", TokenOf(Root),                               [OK,      HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  DENIED]),
        case("DELETE", "/v1/tokens/{id}", TokenOf(Auditor),                            [OK,      HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  HIDDEN,  DENIED]),
        case("DELETE", "/v1/tokens/{id}", OwnToken,                                    [OK,      OK,      OK,      OK,      OK,      OK,      DENIED]),

        // Assignments: written by the operator's authority (or above), read also by the
        // operator itself and the auditor.
        case("POST", "/v1/assignments", NewAssignmentForOpA,                           [CREATED, CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED]),
        // A port takes numbers away from the donor: across tenants, only whoever administers
        // both the donor and the receiver (B's admin administers only the receiver).
        case("POST", "/v1/assignments", PortFromOpAToOpB,                              [CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED,  DENIED]),
        case("GET",  "/v1/assignments", AssignmentsOfOpA,                              [OK,      OK,      OK,      DENIED,  OK,      DENIED,  OK])
            .list("assignments", &[Root, Regional, AdminA, OpA, Auditor]),
        case("DELETE", "/v1/assignments/{id}", AssignmentOfOpA,                        [OK,      OK,      OK,      DENIED,  DENIED,  DENIED,  DENIED]),
        case("PATCH", "/v1/assignments/{id}", AssignmentEndOfOpA,                      [OK,      OK,      OK,      DENIED,  DENIED,  DENIED,  DENIED]),

        // Enrolment: only operators enrol, for themselves; opB asking for opA's numbers is
        // outside its own assignments. Listing is for admins (an admin's default list is its
        // own authority's). One enrolment: admins above it and its operator; the auditor is
        // refused (it reads operators, assignments and certificates, not enrolments).
        case("POST", "/v1/enrolments", NewEnrolmentForOpA,                             [DENIED,  DENIED,  DENIED,  DENIED,  ACCEPTED, INVALID, DENIED]),
        case("GET",  "/v1/enrolments", PendingEnrolments,                              [OK,      OK,      OK,      OK,      DENIED,  DENIED,  DENIED])
            .list("enrolments", &[Root, AdminA, AdminB]),
        case("GET",  "/v1/enrolments", PendingEnrolmentsOfA,                           [OK,      OK,      OK,      DENIED,  DENIED,  DENIED,  DENIED])
            .list("enrolments", &[Root, Regional, AdminA]),
        case("GET",  "/v1/enrolments/{id}", PendingEnrolmentOfOpA,                     [OK,      OK,      OK,      DENIED,  OK,      DENIED,  DENIED]),
        case("POST", "/v1/enrolments/{id}/approve", PendingEnrolmentOfOpA,             [CREATED, CREATED, CREATED, DENIED,  DENIED,  DENIED,  DENIED]),
        case("POST", "/v1/enrolments/{id}/reject", PendingEnrolmentOfOpA,              [OK,      OK,      OK,      DENIED,  DENIED,  DENIED,  DENIED]),

        // Certificates: lists are filtered to the caller's tenant; single certificates of
        // another tenant are hidden.
        case("GET",  "/v1/certificates", Certificates,                                 [OK,      OK,      OK,      OK,      OK,      OK,      OK])
            .list("certificates", &[Root, Regional, AdminA, AdminB, OpA, OpB, Auditor]),
        case("GET",  "/v1/certificates", CertificatesIssuedByA,                        [OK,      OK,      OK,      DENIED,  OK,      OK,      OK])
            .list("certificates", &[Root, AdminA, OpA, Auditor]),
        case("GET",  "/v1/certificates", CertificatesOfOpA,                            [OK,      OK,      OK,      DENIED,  OK,      OK,      OK])
            .list("certificates", &[Root, Regional, AdminA, OpA, Auditor]),
        case("GET",  "/v1/certificates/{fingerprint}", CertificateOfOpA,               [OK,      OK,      OK,      HIDDEN,  OK,      HIDDEN,  OK]),
        case("POST", "/v1/certificates/{fingerprint}/revoke", CertificateOfOpA,        [OK,      OK,      OK,      HIDDEN,  OK,      HIDDEN,  DENIED]),

        // The audit log.
        case("GET",  "/v1/audit", Audit,                                               [OK,      DENIED,  DENIED,  DENIED,  DENIED,  DENIED,  OK]),

        // The public repository and operations: no token needed, any token ignored.
        public("/chains/{file}", Chain),
        public("/crl/{file}", Crl),
        public("/ca/{file}", CaCertificate),
        public("/v1/trust-anchors", TrustAnchors),
        public("/v1/lookup/e164/{number}", LookupE164),
        public("/v1/lookup/plmn/{mccmnc}", LookupPlmn),
        public("/v1/openapi.json", OpenApi),
        public("/healthz", Healthz),
        public("/readyz", Readyz),
        public("/metrics", Metrics),
    ]
}

// ---- the world ----------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Token {
    id: i64,
    secret: String,
}

/// One request of the matrix, resolved for one caller.
struct Call {
    /// Values for the route's `{…}` segments, in order.
    params: Vec<String>,
    query: String,
    body: Option<(&'static str, String)>,
    /// The token sent (None: no Authorization header).
    token: Option<Token>,
    /// Tokens whose rows a refusal must leave as they were.
    watch: Vec<i64>,
}

struct World {
    h: Harness,
    label: &'static str,
    regional: i64,
    a: i64,
    b: i64,
    a_name: &'static str,
    op_a: i64,
    op_b: i64,
    /// The live token of each token holder.
    tokens: HashMap<Who, Token>,
    /// A second token of some identities: what a refused DELETE /v1/tokens aims at.
    spares: HashMap<Who, Token>,
    revoked: Token,
    garbage: String,
    /// An authority awaiting its certificate, and that certificate (PEM), not installed.
    awaiting: (i64, String),
    /// A's own certificate (PEM).
    a_certificate: String,
    b_certificate: String,
    root_crl: String,
    assignment_a: i64,
    pending_a: i64,
    fingerprint_a: String,
    /// Tokens made by the test, watched on every refusal.
    known_tokens: Vec<i64>,
    counter: AtomicU32,
}

fn subject(cn: &str) -> Value {
    json!({"common_name": cn, "organization": "Test Regulator", "country": "IT"})
}

impl World {
    fn store(&self) -> &StoreReader {
        self.h.state.engine.reader()
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A setup call as the root admin that must succeed.
    async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.h.call(method, path, Some(&self.h.admin), body).await;
        assert!(
            status.is_success(),
            "[{}] setup {method} {path}: {status} {answer}",
            self.label
        );
        answer
    }

    /// A new token of the same identity as `who` (root admin and auditor tokens come from
    /// the store, as `tsca admin` makes them; the others through the API).
    async fn mint(&self, who: Who) -> Token {
        let grant = match who {
            Root => TokenGrant::RootAdmin,
            Auditor => TokenGrant::Auditor,
            Regional | AdminA | AdminB => {
                let id = match who {
                    Regional => self.regional,
                    AdminA => self.a,
                    _ => self.b,
                };
                let t = self
                    .root("POST", &format!("/v1/authorities/{id}/tokens"), None)
                    .await;
                return token_of(&t);
            }
            OpA | OpB => {
                let id = if who == OpA { self.op_a } else { self.op_b };
                let t = self
                    .root("POST", &format!("/v1/operators/{id}/tokens"), None)
                    .await;
                return token_of(&t);
            }
            NoToken | Revoked | Garbage => unreachable!("{who:?} holds no token"),
        };
        let issued = self
            .h
            .state
            .engine
            .create_token(
                &common::LOCAL,
                TokenRequest {
                    grant,
                    label: Some(format!("{grant} (matrix)")),
                    lifetime: None,
                },
                None,
            )
            .await
            .unwrap()
            .value;
        Token {
            id: issued.token.id.get(),
            secret: issued.secret.unwrap().expose().to_owned(),
        }
    }

    /// A regional CA under the offline root, awaiting its certificate, and that certificate
    /// as the root ceremony would sign it.
    async fn awaiting_authority(&self) -> (i64, String) {
        let name = format!("pending-region-{}", self.next());
        let created = self
            .root(
                "POST",
                "/v1/authorities",
                Some(json!({"name": name, "tier": "regional", "parent_id": 1,
                    "scope": ["prefix:41"], "subject": subject(&name)})),
            )
            .await;
        let pem = self.h.sign_with_root(
            created["csr_pem"].as_str().unwrap(),
            &["prefix:41"],
            Profile::RegionalCa,
            &name,
        );
        (created["id"].as_i64().unwrap(), pem)
    }

    /// opA enrols within its assignments; A approves by hand, so this stays pending.
    async fn pending_enrolment(&self) -> i64 {
        let (_key, csr) = operator_csr();
        let token = &self.tokens[&OpA].secret;
        let (status, answer) = self
            .h
            .call(
                "POST",
                "/v1/enrolments",
                Some(token),
                Some(json!({"csr": csr, "scope": ["prefix:3902"]})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "[{}] {answer}", self.label);
        answer["enrolment_id"].as_i64().unwrap()
    }

    /// An issued certificate of opA (enrolled, approved by the root admin): its fingerprint.
    async fn certificate_of_op_a(&self) -> String {
        let id = self.pending_enrolment().await;
        let issued = self
            .root("POST", &format!("/v1/enrolments/{id}/approve"), None)
            .await;
        issued["certificate"]["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn assignment_of_op_a(&self) -> i64 {
        let resource = format!("prefix:3904{:03}", self.next());
        let a = self
            .root(
                "POST",
                "/v1/assignments",
                Some(json!({"operator_id": self.op_a, "resource": resource})),
            )
            .await;
        a["id"].as_i64().unwrap()
    }

    /// Resolves a row's target for one caller. `fresh`: the call is expected to succeed and
    /// change its target, so it gets a new object of the same kind.
    async fn resolve(&self, target: Target, who: Who, fresh: bool) -> Call {
        let token = match who {
            NoToken => None,
            Revoked => Some(self.revoked.clone()),
            Garbage => Some(Token {
                id: -1,
                secret: self.garbage.clone(),
            }),
            _ => Some(self.tokens[&who].clone()),
        };
        let mut call = Call {
            params: Vec::new(),
            query: String::new(),
            body: None,
            token,
            watch: Vec::new(),
        };
        let json_body = |v: Value| Some(("application/json", v.to_string()));
        match target {
            NewAuthorityUnderRegional | NewAuthorityUnderA => {
                let parent = match target {
                    NewAuthorityUnderRegional => self.regional,
                    _ => self.a,
                };
                let name = format!("matrix-authority-{}", self.next());
                call.body = json_body(
                    json!({"name": name, "tier": "national", "parent_id": parent,
                    "scope": ["prefix:3999"], "subject": subject(&name)}),
                );
            }
            Authorities | Certificates | Audit | TrustAnchors | OpenApi | Healthz | Readyz
            | Metrics | Operators | PendingEnrolments => {}
            AuthorityA => call.params.push(self.a.to_string()),
            RegionalAuthority => call.params.push(self.regional.to_string()),
            AwaitingAuthority => {
                let (id, pem) = if fresh {
                    self.awaiting_authority().await
                } else {
                    self.awaiting.clone()
                };
                call.params.push(id.to_string());
                call.body = Some(("application/pem-certificate-chain", pem));
            }
            ActiveAuthorityA => {
                call.params.push(self.a.to_string());
                call.body = Some((
                    "application/pem-certificate-chain",
                    self.b_certificate.clone(),
                ));
            }
            RootCrl => {
                call.params.push("1".into());
                // A call expected to succeed gets a newer CRL (cRLNumber 2 onwards); the
                // refused ones resend the installed one.
                let pem = if fresh {
                    self.h.root_crl_pem(2 + u64::from(self.next()))
                } else {
                    self.root_crl.clone()
                };
                call.body = Some(("application/x-pem-file", pem));
            }
            RootCrlSigner => {
                call.params.push("1".into());
                // Read by PUT only (a certificate, but not the signer's).
                call.body = Some((
                    "application/pem-certificate-chain",
                    self.b_certificate.clone(),
                ));
            }
            NewOperatorInA => {
                call.body = json_body(json!({"authority_id": self.a,
                    "name": format!("Operator {}", self.next()), "country": "IT"}));
            }
            OperatorsOfA => call.query = format!("?authority_id={}", self.a),
            RootAdminTokens => call.query = "?role=root-admin".into(),
            OperatorA => call.params.push(self.op_a.to_string()),
            TokenOf(owner) => {
                let victim = if fresh {
                    self.mint(owner).await
                } else {
                    self.spares[&owner].clone()
                };
                call.params.push(victim.id.to_string());
                call.watch.push(victim.id);
            }
            OwnToken => match who {
                NoToken | Revoked | Garbage => {
                    let victim = self.spares[&OpA].id;
                    call.params.push(victim.to_string());
                    call.watch.push(victim);
                }
                // A token of the caller's identity, made for this call and used for it, so
                // that the caller's main token survives its own revocation.
                _ => {
                    let own = self.mint(who).await;
                    call.params.push(own.id.to_string());
                    call.watch.push(own.id);
                    call.token = Some(own);
                }
            },
            NewAssignmentForOpA => {
                call.body = json_body(json!({"operator_id": self.op_a,
                    "resource": format!("prefix:3903{:03}", self.next())}));
            }
            PortFromOpAToOpB => {
                // Inside opA's prefix:39066980 and inside B's scope (prefix:3906698).
                call.body = json_body(json!({"operator_id": self.op_b,
                    "resource": format!("prefix:39066980{:03}", self.next()),
                    "ported_from": self.op_a}));
            }
            AssignmentsOfOpA => call.query = format!("?operator_id={}", self.op_a),
            AssignmentOfOpA => {
                let id = if fresh {
                    self.assignment_of_op_a().await
                } else {
                    self.assignment_a
                };
                call.params.push(id.to_string());
            }
            AssignmentEndOfOpA => {
                let id = if fresh {
                    self.assignment_of_op_a().await
                } else {
                    self.assignment_a
                };
                call.params.push(id.to_string());
                let end = jiff::Timestamp::now().as_second() + 365 * 86_400;
                call.body = Some((
                    "application/merge-patch+json",
                    json!({"valid_to": end}).to_string(),
                ));
            }
            NewEnrolmentForOpA => {
                let (_key, csr) = operator_csr();
                call.body = json_body(json!({"csr": csr, "scope": ["prefix:3902"]}));
            }
            PendingEnrolmentsOfA => call.query = format!("?authority_id={}", self.a),
            PendingEnrolmentOfOpA => {
                let id = if fresh {
                    self.pending_enrolment().await
                } else {
                    self.pending_a
                };
                call.params.push(id.to_string());
            }
            CertificatesIssuedByA => call.query = format!("?issuer_id={}", self.a),
            CertificatesOfOpA => call.query = format!("?operator_id={}", self.op_a),
            CertificateOfOpA => {
                let fp = if fresh {
                    self.certificate_of_op_a().await
                } else {
                    self.fingerprint_a.clone()
                };
                call.params.push(fp);
                // Operators may revoke with this reason; so may admins.
                call.body = json_body(json!({"reason": "keyCompromise"}));
            }
            Chain => call.params.push(format!("{}.pem", self.fingerprint_a)),
            Crl => call.params.push(format!("{}.crl", self.a_name)),
            CaCertificate => call.params.push(format!("{}.der", self.a_name)),
            LookupE164 => call.params.push("+39021234567".into()),
            LookupPlmn => call.params.push("22201".into()),
        }
        call
    }

    /// The audit log's length and head hash (and the chain still verifies).
    async fn audit_head(&self) -> (i64, String) {
        match self.store().verify_audit_chain().await.unwrap() {
            ChainVerdict::Intact { entries, head } => (entries, head),
            broken => panic!("[{}] the audit chain is broken: {broken:?}", self.label),
        }
    }

    /// Everything a call could change, one line per record.
    async fn snapshot(&self, watch: &[i64]) -> BTreeSet<String> {
        let store = self.store();
        let mut lines = BTreeSet::new();
        let (entries, head) = self.audit_head().await;
        lines.insert(format!("audit log: {entries} entries, head {head}"));
        for a in store.authorities().await.unwrap() {
            let fingerprint = a
                .certificate_der
                .as_ref()
                .map(|der| hex::encode(ring::digest::digest(&ring::digest::SHA256, der)));
            lines.insert(format!(
                "authority {} {} {} parent={:?} scope={} approval={:?} key={:?} csr={} certificate={fingerprint:?}",
                a.id, a.name, a.status, a.parent_id, a.scope, a.approval, a.key_id,
                a.csr_der.is_some()
            ));
        }
        for o in store.operators(None).await.unwrap() {
            for a in store.operator_assignments(o.id).await.unwrap() {
                lines.insert(format!("{a:?}"));
            }
            lines.insert(format!("{o:?}"));
        }
        for status in [
            EnrolmentStatus::Pending,
            EnrolmentStatus::Approved,
            EnrolmentStatus::Rejected,
            EnrolmentStatus::Issued,
            EnrolmentStatus::Failed,
        ] {
            for e in store.enrolments(status, None).await.unwrap() {
                lines.insert(format!(
                    "enrolment {} operator={} authority={} {} certificate={:?} reason={:?} decided_at={:?}",
                    e.id, e.operator_id, e.authority_id, e.status, e.certificate_id,
                    e.decision_reason, e.decided_at
                ));
            }
        }
        let all = CertificateFilter {
            issuer_id: None,
            operator_id: None,
            status: None,
            after_id: None,
            limit: Some(100_000),
        };
        for c in store.certificates(&all).await.unwrap() {
            lines.insert(format!(
                "certificate {} issuer={} operator={:?} {} {:?} revoked_at={:?} reason={:?}",
                c.id,
                c.issuer_id,
                c.operator_id(),
                c.status,
                c.fingerprint(),
                c.revocation.map(|r| r.revoked_at),
                c.revocation.and_then(|r| r.reason)
            ));
        }
        for id in self.known_tokens.iter().chain(watch) {
            lines.insert(format!("{:?}", store.token(TokenId(*id)).await.unwrap()));
        }
        lines
    }

    /// Is `candidate` `root` or below it?
    async fn in_subtree(&self, root: i64, candidate: i64) -> bool {
        let parents: HashMap<i64, Option<i64>> = self
            .store()
            .authorities()
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.id.get(), a.parent_id.map(AuthorityId::get)))
            .collect();
        let mut current = Some(candidate);
        while let Some(id) = current {
            if id == root {
                return true;
            }
            current = parents.get(&id).copied().flatten();
        }
        false
    }

    /// The items of an allowed list answer hold only what `who` may see.
    async fn check_list(&self, who: Who, check: &ListCheck, answer: &Value) -> Result<(), String> {
        let Some(items) = answer[check.key].as_array() else {
            return Err(format!("no `{}` array in {answer}", check.key));
        };
        if items.is_empty() && check.non_empty_for.contains(&who) {
            return Err(format!(
                "`{}` is empty; it should hold the caller's own objects",
                check.key
            ));
        }
        let caller = self
            .store()
            .token(TokenId(self.tokens[&who].id))
            .await
            .unwrap();
        for item in items {
            if check.key == "tokens" && item.get("token").is_some() {
                return Err(format!("a token listing shows a secret field: {item}"));
            }
            // Operators are listed by their own id; everything else names its operator.
            let operator = if check.key == "operators" {
                item["id"].as_i64()
            } else {
                item["operator_id"].as_i64()
            };
            // Certificates name their issuer; the rest the authority they belong to, or (an
            // operator's tokens) the operator, which belongs to an authority.
            let mut authority = item["issuer_id"]
                .as_i64()
                .or_else(|| item["authority_id"].as_i64());
            if let (None, Some(operator)) = (authority, operator) {
                let record = self.store().operator(ca_store::OperatorId(operator)).await;
                authority = record.ok().map(|o| o.authority_id.get());
            }
            let visible = match caller.grant {
                TokenGrant::RootAdmin | TokenGrant::Auditor => true,
                TokenGrant::Operator(mine) => operator == Some(mine.get()),
                TokenGrant::AuthorityAdmin(mine) => match authority {
                    Some(theirs) => self.in_subtree(mine.get(), theirs).await,
                    None => false,
                },
            };
            if !visible {
                let mut shown = item.clone();
                if let Some(fields) = shown.as_object_mut() {
                    fields.remove("certificate_pem");
                }
                return Err(format!("leaks an object it may not see: {shown}"));
            }
        }
        Ok(())
    }
}

fn token_of(answer: &Value) -> Token {
    Token {
        id: answer["id"].as_i64().unwrap(),
        secret: answer["token"].as_str().unwrap().to_owned(),
    }
}

/// The route with its `{…}` segments replaced by `params`, in order.
fn fill(route: &str, params: &[String]) -> String {
    let mut params = params.iter();
    let path = route
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                params
                    .next()
                    .unwrap_or_else(|| panic!("{route}: no value for {segment}"))
                    .as_str()
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    assert!(
        params.next().is_none(),
        "{route}: more values than segments"
    );
    path
}

async fn world(db: TestDatabase) -> World {
    let label = db.label();
    // The matrix makes hundreds of calls per token in a few seconds: no rate limit here.
    let h = harness_with(
        db,
        RegistryConfig {
            rate_limit_per_second: 1e9,
            ..RegistryConfig::default()
        },
    )
    .await;
    let admin = h.admin.clone();
    let setup = |status: StatusCode, answer: &Value, what: &str| {
        assert!(
            status.is_success(),
            "[{label}] setup {what}: {status} {answer}"
        );
    };

    // A regional CA under the offline root, certified by the root ceremony.
    let scope = ["prefix:39", "prefix:379", "spc:*"];
    let (status, regional) = h
        .call(
            "POST",
            "/v1/authorities",
            Some(&admin),
            Some(json!({"name": "europe",
            "tier": "regional", "parent_id": 1, "scope": scope, "subject": subject("Europe")})),
        )
        .await;
    setup(status, &regional, "regional CA");
    let regional_id = regional["id"].as_i64().unwrap();
    let pem = h.sign_with_root(
        regional["csr_pem"].as_str().unwrap(),
        &scope,
        Profile::RegionalCa,
        "Europe",
    );
    let (status, body, _) = h
        .raw(
            "PUT",
            &format!("/v1/authorities/{regional_id}/certificate"),
            Some(&admin),
            Some(("application/pem-certificate-chain", pem)),
            &[],
        )
        .await;
    setup(
        status,
        &Value::String(String::from_utf8_lossy(&body).into()),
        "regional certificate",
    );

    // The root's first CRL, from its ceremony.
    let root_crl = h.root_crl_pem(1);
    let (status, body, _) = h
        .raw(
            "PUT",
            "/v1/authorities/1/crl",
            Some(&admin),
            Some(("application/x-pem-file", root_crl.clone())),
            &[],
        )
        .await;
    setup(
        status,
        &Value::String(String::from_utf8_lossy(&body).into()),
        "root CRL",
    );

    // Two sibling national CAs, approving enrolments by hand. B's scope lies partly inside
    // A's (the Vatican's +39 06 698 block), which is what makes a cross-tenant port possible.
    let mut national = HashMap::new();
    for (name, scope) in [
        ("italy", vec!["prefix:39", "spc:*"]),
        ("vatican", vec!["prefix:379", "prefix:3906698", "spc:*"]),
    ] {
        let (status, created) = h
            .call(
                "POST",
                "/v1/authorities",
                Some(&admin),
                Some(json!({"name": name,
                "tier": "national", "parent_id": regional_id, "scope": scope,
                "subject": subject(name), "auto_approve": false})),
            )
            .await;
        setup(status, &created, name);
        assert_eq!(created["status"], "active", "[{label}] {created}");
        national.insert(name, created["id"].as_i64().unwrap());
    }
    let (a, b) = (national["italy"], national["vatican"]);

    let mut w = World {
        h,
        label,
        regional: regional_id,
        a,
        b,
        a_name: "italy",
        op_a: 0,
        op_b: 0,
        tokens: HashMap::new(),
        spares: HashMap::new(),
        revoked: Token {
            id: 0,
            secret: String::new(),
        },
        garbage: TokenSecret::generate(&OsEntropy).expose().to_owned(),
        awaiting: (0, String::new()),
        a_certificate: String::new(),
        b_certificate: String::new(),
        root_crl,
        assignment_a: 0,
        pending_a: 0,
        fingerprint_a: String::new(),
        known_tokens: Vec::new(),
        counter: AtomicU32::new(0),
    };
    let root_token =
        w.h.state
            .engine
            .authenticate(&admin)
            .await
            .unwrap()
            .unwrap();
    w.tokens.insert(
        Root,
        Token {
            id: root_token.token().unwrap().get(),
            secret: admin.clone(),
        },
    );

    // The operators, with their first tokens.
    for (who, authority, name) in [(OpA, a, "TIM"), (OpB, b, "Vatican Telecom")] {
        let created = w
            .root(
                "POST",
                "/v1/operators",
                Some(json!({"authority_id": authority, "name": name, "country": "IT"})),
            )
            .await;
        let id = created["operator"]["id"].as_i64().unwrap();
        if who == OpA {
            w.op_a = id;
        } else {
            w.op_b = id;
        }
        w.tokens.insert(who, token_of(&created["token"]));
    }
    for who in [Regional, AdminA, AdminB, Auditor] {
        let token = w.mint(who).await;
        w.tokens.insert(who, token);
    }

    // Assignments: opA holds Milan (what it enrols for), +3905 (what refused withdrawals aim
    // at: kept apart so that a withdrawal let through does not break the enrolments of later
    // rows) and a block inside the Vatican's range; opB holds +3791.
    let mut assignment_a = 0;
    for (operator, resource) in [
        (w.op_a, "prefix:3902"),
        (w.op_a, "prefix:3905"),
        (w.op_a, "prefix:39066980"),
        (w.op_a, "spc:I0001"),
        (w.op_b, "prefix:3791"),
        (w.op_b, "spc:V0001"),
    ] {
        let created = w
            .root(
                "POST",
                "/v1/assignments",
                Some(json!({"operator_id": operator, "resource": resource})),
            )
            .await;
        if resource == "prefix:3905" {
            assignment_a = created["id"].as_i64().unwrap();
        }
    }
    w.assignment_a = assignment_a;

    // Each operator: one certificate issued (enrolled, approved), one enrolment pending.
    w.fingerprint_a = w.certificate_of_op_a().await;
    w.pending_a = w.pending_enrolment().await;
    let op_b_token = w.tokens[&OpB].secret.clone();
    for approve in [true, false] {
        let (_key, csr) = operator_csr();
        let (status, pending) =
            w.h.call(
                "POST",
                "/v1/enrolments",
                Some(&op_b_token),
                Some(json!({"csr": csr, "scope": ["prefix:3791"]})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "[{label}] {pending}");
        if approve {
            let id = pending["enrolment_id"].as_i64().unwrap();
            w.root("POST", &format!("/v1/enrolments/{id}/approve"), None)
                .await;
        }
    }

    // The victims of refused token revocations, the revoked token, the awaiting authority.
    for who in [OpA, AdminA, Regional, Root, Auditor] {
        let token = w.mint(who).await;
        w.spares.insert(who, token);
    }
    w.revoked = w.mint(Root).await;
    w.root("DELETE", &format!("/v1/tokens/{}", w.revoked.id), None)
        .await;
    w.awaiting = w.awaiting_authority().await;
    let der = w
        .store()
        .authority(AuthorityId(a))
        .await
        .unwrap()
        .certificate_der
        .unwrap();
    w.a_certificate = ca_core::x509::pem_encode("CERTIFICATE", &der).unwrap();
    let der = w
        .store()
        .authority(AuthorityId(b))
        .await
        .unwrap()
        .certificate_der
        .unwrap();
    w.b_certificate = ca_core::x509::pem_encode("CERTIFICATE", &der).unwrap();

    w.known_tokens = w
        .tokens
        .values()
        .chain(w.spares.values())
        .map(|t| t.id)
        .chain([w.revoked.id])
        .collect();
    w
}

// ---- the tests ----------------------------------------------------------------------------

/// Runs every row for every caller; returns the cells that did not hold.
async fn run_matrix(w: &World) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases() {
        for who in EVERYONE {
            let (what, problems) = check_cell(w, &case, who).await;
            for problem in problems {
                // Printed at once too: a refusal let through may harm a fixture so that a
                // later setup step panics, and then this line names the cause.
                let line = format!("{what}: {problem}");
                println!("{line}");
                failures.push(line);
            }
        }
    }
    failures
}

/// One call of the matrix: its description, and what did not hold.
async fn check_cell(w: &World, case: &Case, who: Who) -> (String, Vec<String>) {
    let expected = case.expected(who);
    let allowed = expected.is_success();
    let call = w
        .resolve(case.target, who, allowed && case.method != "GET")
        .await;
    let path = format!("{}{}", fill(case.route, &call.params), call.query);
    let what = format!(
        "[{}] {} {} ({:?}: {path}) as {}",
        w.label,
        case.method,
        case.route,
        case.target,
        who.name()
    );
    let mut problems = Vec::new();
    let before = if allowed {
        None
    } else {
        Some(w.snapshot(&call.watch).await)
    };
    let (seq_before, _) = w.audit_head().await;
    let token = call.token.as_ref().map(|t| t.secret.as_str());
    let (status, bytes, headers) =
        w.h.raw(case.method, &path, token, call.body.clone(), &[])
            .await;
    let answer: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    let shown: String = answer.to_string().chars().take(300).collect();
    if status != expected {
        problems.push(format!("expected {expected}, got {status}: {shown}"));
    }
    if let Some(before) = before {
        // A refusal: problem+json with its status, and nothing changed anywhere.
        if status.is_client_error() {
            let problem_json = headers
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            if !problem_json || answer["status"] != status.as_u16() {
                problems.push(format!("the refusal is not problem+json: {shown}"));
            }
            if status == StatusCode::UNAUTHORIZED && !headers.contains_key("www-authenticate") {
                problems.push("401 without WWW-Authenticate".into());
            }
        }
        let after = w.snapshot(&call.watch).await;
        if before != after {
            let gone: Vec<_> = before.difference(&after).take(4).collect();
            let new: Vec<_> = after.difference(&before).take(4).collect();
            problems.push(format!(
                "answered {status}, yet the state changed: before {gone:?}, after {new:?}"
            ));
        }
    } else if status.is_success() {
        // A write is in the audit log under the caller's name.
        if case.method != "GET" {
            let id = call.token.as_ref().map_or(-1, |t| t.id);
            let actor = format!("token:{id} ");
            let entries = w.store().audit_entries(seq_before, 1_000).await.unwrap();
            if !entries.iter().any(|e| e.actor.starts_with(&actor)) {
                problems.push(format!("succeeded without an audit entry by token {id}"));
            }
        }
        if let Some(check) = &case.list {
            if let Err(e) = w.check_list(who, check, &answer).await {
                problems.push(e);
            }
        }
    }
    (what, problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_caller() {
    let rows = cases().len();
    for db in TestDatabase::all().await {
        let w = world(db).await;
        let failures = run_matrix(&w).await;
        println!("[{}] {} cells checked", w.label, rows * EVERYONE.len());
        assert!(
            failures.is_empty(),
            "{} of {} cells of the authorisation matrix do not hold:\n{}",
            failures.len(),
            rows * EVERYONE.len(),
            failures.join("\n")
        );
        // The fixtures the refusals aimed at are intact, and their owners still use them.
        let store = w.store();
        let certificate = store
            .certificate_by_fingerprint(&w.fingerprint_a.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(certificate.status, ca_store::CertificateStatus::Valid);
        assert!(store
            .assignment(AssignmentId(w.assignment_a))
            .await
            .unwrap()
            .withdrawn_at
            .is_none());
        assert_eq!(
            store
                .enrolment(EnrolmentId(w.pending_a))
                .await
                .unwrap()
                .status,
            EnrolmentStatus::Pending
        );
        let (status, _) =
            w.h.call(
                "GET",
                &format!("/v1/certificates/{}", w.fingerprint_a),
                Some(&w.tokens[&OpA].secret),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "[{}] opA's token still works",
            w.label
        );
    }
}

/// The table must name every operation of the OpenAPI document (which `tests/api.rs` keeps
/// in step with the router), and nothing else: a new route without a row fails here.
#[test]
fn the_matrix_covers_every_route() {
    let doc = registry_api::openapi::build();
    let table: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.to_lowercase(), c.route.to_owned()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    assert!(!documented.is_empty());
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:?}"
    );
    let unknown: Vec<_> = table.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "rows for routes the API does not have: {unknown:?}"
    );
}
