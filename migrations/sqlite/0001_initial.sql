-- tsca schema, version 1 (SQLite).
--
-- Migrations are forward-only: never edit an applied file, add the next one. The PostgreSQL
-- twin is migrations/postgres/0001_initial.sql; both must describe the same tables, columns
-- and constraints so the same story tests pass on each.
--
-- Conventions: times are BIGINT seconds since the Unix epoch (UTC); statuses are TEXT with
-- a CHECK of their allowed values; numbering scopes are the canonical text form of ca-core's
-- NumberingScope ("prefix:33 range:33612340000+10000 …", space separated, or "*" for the
-- unconstrained scope of a root); DER is BLOB.

-- Private keys at rest: PKCS#8 encrypted with PBES2 under the operator's passphrase, or a
-- reference to a key held in an HSM. The plaintext never reaches the database.
CREATE TABLE keys (
    id                  INTEGER PRIMARY KEY,
    algorithm           TEXT   NOT NULL,
    storage             TEXT   NOT NULL CHECK (storage IN ('pkcs8-encrypted', 'hsm')),
    pkcs8_encrypted_pem TEXT,
    hsm_reference       TEXT,
    created_at          BIGINT NOT NULL,
    CHECK ((storage = 'pkcs8-encrypted') = (pkcs8_encrypted_pem IS NOT NULL))
);

-- The CA hierarchy. A root has no parent; an authority whose parent is the offline root
-- waits in 'awaiting-certificate' holding its CSR until the ceremony's result is installed.
CREATE TABLE authorities (
    id              INTEGER PRIMARY KEY,
    name            TEXT   NOT NULL UNIQUE,
    tier            TEXT   NOT NULL CHECK (tier IN ('root', 'regional', 'national')),
    parent_id       BIGINT REFERENCES authorities (id),
    scope           TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('awaiting-certificate', 'active', 'retired')),
    auto_approve    BIGINT NOT NULL DEFAULT 0 CHECK (auto_approve IN (0, 1)),
    key_id          BIGINT REFERENCES keys (id),
    csr_der         BLOB,
    certificate_der BLOB,
    created_at      BIGINT NOT NULL,
    CHECK ((tier = 'root') = (parent_id IS NULL))
);

-- Operators: carriers and service providers that enrol for certificates.
CREATE TABLE operators (
    id           INTEGER PRIMARY KEY,
    authority_id BIGINT NOT NULL REFERENCES authorities (id),
    name         TEXT   NOT NULL,
    spc          TEXT,
    country      TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at   BIGINT NOT NULL,
    UNIQUE (authority_id, name)
);
CREATE UNIQUE INDEX operators_spc ON operators (spc) WHERE spc IS NOT NULL;

-- API tokens, stored only as the SHA-256 of the secret. A token is scoped to an authority
-- (authority admins) or an operator (operators); root admins and auditors have neither.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT   NOT NULL UNIQUE,
    role         TEXT   NOT NULL CHECK (role IN ('root-admin', 'authority-admin', 'operator', 'auditor')),
    authority_id BIGINT REFERENCES authorities (id),
    operator_id  BIGINT REFERENCES operators (id),
    label        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

-- Numbering assignments: an authority gives an operator a resource. A port is an assignment
-- carved out of another operator's (ported_from); withdrawal sets withdrawn_at, rows stay.
CREATE TABLE assignments (
    id           INTEGER PRIMARY KEY,
    authority_id BIGINT NOT NULL REFERENCES authorities (id),
    operator_id  BIGINT NOT NULL REFERENCES operators (id),
    resource     TEXT   NOT NULL,
    valid_from   BIGINT NOT NULL,
    valid_to     BIGINT,
    ported_from  BIGINT REFERENCES operators (id),
    withdrawn_at BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX assignments_operator ON assignments (operator_id) WHERE withdrawn_at IS NULL;

-- Every certificate tsca ever meant to sign. Record before sign: the row is written as
-- 'reserved' with the to-be-signed bytes before the key signs, then completed to 'valid'.
-- A reserved row found at start-up becomes 'abandoned' and is treated as revoked.
CREATE TABLE certificates (
    id                   INTEGER PRIMARY KEY,
    issuer_id            BIGINT NOT NULL REFERENCES authorities (id),
    serial               BLOB    NOT NULL,
    status               TEXT   NOT NULL CHECK (status IN ('reserved', 'valid', 'revoked', 'abandoned')),
    profile              TEXT   NOT NULL,
    subject              TEXT   NOT NULL,
    operator_id          BIGINT REFERENCES operators (id),
    subject_authority_id BIGINT REFERENCES authorities (id),
    enrolment_id         BIGINT,
    not_before           BIGINT NOT NULL,
    not_after            BIGINT NOT NULL,
    scope                TEXT   NOT NULL,
    tbs_der              BLOB    NOT NULL,
    der                  BLOB,
    fingerprint          TEXT UNIQUE,
    reserved_at          BIGINT NOT NULL,
    issued_at            BIGINT,
    revoked_at           BIGINT,
    revocation_reason    BIGINT,
    UNIQUE (issuer_id, serial),
    CHECK ((status = 'reserved' OR status = 'abandoned') OR (der IS NOT NULL AND fingerprint IS NOT NULL)),
    CHECK ((status IN ('revoked', 'abandoned')) = (revoked_at IS NOT NULL))
);
CREATE INDEX certificates_operator ON certificates (operator_id);
CREATE INDEX certificates_status ON certificates (issuer_id, status);

-- Enrolment requests from operators. (operator, idempotency key) is unique so a retried
-- request finds the first one instead of creating a second.
CREATE TABLE enrolments (
    id               INTEGER PRIMARY KEY,
    operator_id      BIGINT NOT NULL REFERENCES operators (id),
    authority_id     BIGINT NOT NULL REFERENCES authorities (id),
    csr_der          BLOB    NOT NULL,
    requested_scope  TEXT   NOT NULL,
    profile          TEXT   NOT NULL,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'issued')),
    idempotency_key  TEXT,
    certificate_id   BIGINT REFERENCES certificates (id),
    decision_reason  TEXT,
    created_at       BIGINT NOT NULL,
    decided_at       BIGINT,
    UNIQUE (operator_id, idempotency_key)
);

-- The current pre-signed OCSP response of each certificate, keyed for lookup by the
-- SHA-1 and SHA-256 CertID (hash algorithm, issuer name hash, issuer key hash, serial).
CREATE TABLE ocsp_responses (
    certificate_id BIGINT PRIMARY KEY REFERENCES certificates (id),
    issuer_id      BIGINT NOT NULL REFERENCES authorities (id),
    sha1_key       BLOB    NOT NULL UNIQUE,
    sha256_key     BLOB    NOT NULL UNIQUE,
    der            BLOB    NOT NULL,
    this_update    BIGINT NOT NULL,
    next_update    BIGINT NOT NULL
);
CREATE INDEX ocsp_responses_next_update ON ocsp_responses (next_update);

-- Every CRL published, by authority and cRLNumber (strictly increasing per authority).
CREATE TABLE crls (
    authority_id BIGINT NOT NULL REFERENCES authorities (id),
    crl_number   BIGINT NOT NULL,
    der          BLOB    NOT NULL,
    this_update  BIGINT NOT NULL,
    next_update  BIGINT NOT NULL,
    PRIMARY KEY (authority_id, crl_number)
);

-- The audit log: append-only and hash-chained. hash = SHA-256 over the previous entry's
-- hash and this entry's fields (see ca-store/src/audit.rs). audit_head holds the last
-- sequence number and hash; every write transaction locks it first, which also orders
-- all writes.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    subject   TEXT   NOT NULL,
    details   TEXT   NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Append-only: the database itself refuses to change or remove an audit entry.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
