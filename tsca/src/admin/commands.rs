//! The `tsca admin` subcommands and their arguments.

use std::path::PathBuf;

use clap::Subcommand;

use crate::SubjectArgs;

/// The admin commands: listings and records first, then changes.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// List authorities.
    Authorities,
    /// Show one authority (subject, scope, status, CRL and certificate URLs).
    Authority {
        /// Authority id.
        #[arg(long)]
        id: i64,
    },
    /// List operators (of one authority with --authority).
    Operators {
        /// Only this authority's operators.
        #[arg(long)]
        authority: Option<i64>,
    },
    /// Show one operator with its assignments.
    Operator {
        /// Operator id.
        #[arg(long)]
        id: i64,
    },
    /// List an operator's assignments, withdrawn ones included.
    Assignments {
        /// Operator id.
        #[arg(long)]
        operator: i64,
    },
    /// List enrolments by status (pending by default).
    Enrolments {
        /// pending, issued, rejected or failed.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only this authority's enrolments.
        #[arg(long)]
        authority: Option<i64>,
    },
    /// Show one enrolment.
    Enrolment {
        /// Enrolment id.
        #[arg(long)]
        id: i64,
    },
    /// List certificates, newest last, a page at a time.
    Certificates {
        /// Only this operator's.
        #[arg(long)]
        operator: Option<i64>,
        /// Only those this authority issued.
        #[arg(long)]
        authority: Option<i64>,
        /// valid, revoked, reserved (being issued) or abandoned (never issued).
        #[arg(long)]
        status: Option<String>,
        /// Start after this certificate id (the last id of the page before).
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one certificate (with its PEM).
    Certificate {
        /// SHA-256 fingerprint (hex).
        #[arg(long)]
        fingerprint: String,
    },
    /// List tokens (never their secrets): an operator's, an authority's admin tokens, or the
    /// root-admin or auditor tokens.
    #[command(group = clap::ArgGroup::new("holder").required(true))]
    Tokens {
        /// An operator's tokens.
        #[arg(long, group = "holder")]
        operator: Option<i64>,
        /// An authority's admin tokens.
        #[arg(long, group = "holder")]
        authority: Option<i64>,
        /// root-admin or auditor.
        #[arg(long, group = "holder")]
        role: Option<String>,
    },
    /// List audit entries (root admins and auditors), a page at a time.
    Audit {
        /// Start after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Page size.
        #[arg(long, default_value_t = 500)]
        limit: usize,
    },
    /// Create a regional or national sub-CA.
    CreateAuthority {
        /// Name (a-z, 0-9, '-').
        #[arg(long)]
        name: String,
        /// regional or national.
        #[arg(long)]
        tier: String,
        /// Parent authority id.
        #[arg(long)]
        parent: i64,
        /// Scope entries (repeat).
        #[arg(long = "scope", required = true)]
        scope: Vec<String>,
        #[command(flatten)]
        subject: SubjectArgs,
        /// Approve enrolments within scope automatically (by default an admin approves each
        /// one, and an enrolment answers 202 until then).
        #[arg(long)]
        auto_approve: bool,
    },
    /// Install the certificate an offline parent signed for an authority.
    InstallCertificate {
        /// Authority id.
        #[arg(long)]
        authority: i64,
        /// The certificate (PEM) from `tsca ceremony sign-subca`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Install the CRL an offline authority (the root) signed in its ceremony.
    InstallCrl {
        /// Authority id (the root's).
        #[arg(long)]
        authority: i64,
        /// The CRL (DER or PEM): root.crl from `tsca ceremony revoke` or `sign-crl`.
        file: PathBuf,
    },
    /// Make the key of a SHAKEN domain's CRL signer and print its CSR (or the pending one's),
    /// for `tsca ceremony sign-crl-signer`.
    CrlSignerCsr {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
        /// Write the CSR (PEM) here instead of printing the answer.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install the root's certificate for the pending CRL signer; it signs /crl/domain.crl
    /// at once.
    InstallCrlSigner {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
        /// The certificate (PEM) from `tsca ceremony sign-crl-signer`.
        file: PathBuf,
    },
    /// Show a SHAKEN root's CRL signers: the pending one and the active one.
    CrlSigner {
        /// Authority id (the SHAKEN root's).
        #[arg(long)]
        authority: i64,
    },
    /// Register an operator (prints its first token once); give it its SPC with
    /// `assign --resource spc:CODE` before it enrols.
    CreateOperator {
        /// Authority id.
        #[arg(long)]
        authority: i64,
        /// Name.
        #[arg(long)]
        name: String,
        /// Country (ISO 3166 alpha-2).
        #[arg(long)]
        country: String,
    },
    /// Assign a numbering resource to an operator.
    Assign {
        /// Operator id.
        #[arg(long)]
        operator: i64,
        /// Resource, e.g. prefix:3361 or range:33612340000+10000.
        #[arg(long)]
        resource: String,
        /// Ported from this operator.
        #[arg(long)]
        ported_from: Option<i64>,
        /// When the assignment ends (seconds since 1970); open-ended when not given.
        #[arg(long)]
        valid_to: Option<i64>,
    },
    /// Move an assignment's end (revokes certificates that no longer fit).
    SetAssignmentEnd {
        /// Assignment id.
        #[arg(long)]
        assignment: i64,
        /// The new end (seconds since 1970), or `never` for open-ended.
        #[arg(long)]
        valid_to: String,
    },
    /// Withdraw an assignment (revokes certificates that no longer fit).
    Withdraw {
        /// Assignment id.
        #[arg(long)]
        assignment: i64,
    },
    /// Issue a token: an operator's, or an authority's admin token (the secret is shown once).
    #[command(group = clap::ArgGroup::new("holder").required(true))]
    CreateToken {
        /// For this operator.
        #[arg(long, group = "holder")]
        operator: Option<i64>,
        /// An admin token of this authority.
        #[arg(long, group = "holder")]
        authority: Option<i64>,
        /// A name for people (e.g. where the token is used).
        #[arg(long)]
        label: Option<String>,
        /// Days it works (1 to 3650; default: the service's operator-token lifetime, or
        /// until revoked).
        #[arg(long)]
        valid_days: Option<u32>,
    },
    /// Revoke a token.
    RevokeToken {
        /// Token id.
        #[arg(long)]
        id: i64,
    },
    /// Approve a pending enrolment (issues the certificate).
    Approve {
        /// Enrolment id.
        #[arg(long)]
        enrolment: i64,
    },
    /// Reject a pending enrolment, saying why (the operator reads the reason).
    Reject {
        /// Enrolment id.
        #[arg(long)]
        enrolment: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Revoke a certificate.
    Revoke {
        /// SHA-256 fingerprint.
        #[arg(long)]
        fingerprint: String,
        /// Reason (keyCompromise, superseded, …).
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}
