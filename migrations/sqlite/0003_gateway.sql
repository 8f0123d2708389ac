-- Version 3: the transactional gateway (docs/architecture.md). The PostgreSQL twin,
-- migrations/postgres/0003_gateway.sql, explains each change; SQLite cannot alter a CHECK,
-- so the enrolments table is rebuilt (nothing refers to it by foreign key).

ALTER TABLE keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'ca';
UPDATE keys SET purpose = 'ocsp-responder'
    WHERE id IN (SELECT key_id FROM certificates WHERE key_id IS NOT NULL);

ALTER TABLE certificates ADD COLUMN public_key_sha256 TEXT;
ALTER TABLE certificates ADD COLUMN reserved_by TEXT;
CREATE INDEX certificates_public_key ON certificates (public_key_sha256);
CREATE INDEX certificates_reserved ON certificates (id) WHERE status = 'reserved';
CREATE INDEX certificates_enrolment ON certificates (enrolment_id) WHERE enrolment_id IS NOT NULL;
CREATE INDEX certificates_key ON certificates (key_id) WHERE key_id IS NOT NULL;

ALTER TABLE authorities ADD COLUMN revocation_seq BIGINT NOT NULL DEFAULT 0;
UPDATE authorities SET revocation_seq = 1 WHERE key_id IS NOT NULL;
ALTER TABLE crls ADD COLUMN revocation_seq BIGINT NOT NULL DEFAULT 0;

ALTER TABLE assignments ADD COLUMN expiry_handled_at BIGINT;
CREATE INDEX assignments_ported_from ON assignments (ported_from) WHERE ported_from IS NOT NULL;

CREATE TABLE enrolments_v3 (
    id               INTEGER PRIMARY KEY,
    operator_id      BIGINT NOT NULL REFERENCES operators (id),
    authority_id     BIGINT NOT NULL REFERENCES authorities (id),
    csr_der          BLOB    NOT NULL,
    requested_scope  TEXT   NOT NULL,
    profile          TEXT   NOT NULL,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'issued', 'failed')),
    idempotency_key  TEXT,
    certificate_id   BIGINT REFERENCES certificates (id),
    decision_reason  TEXT,
    created_at       BIGINT NOT NULL,
    decided_at       BIGINT,
    UNIQUE (operator_id, idempotency_key)
);
INSERT INTO enrolments_v3 SELECT id, operator_id, authority_id, csr_der, requested_scope, profile,
    status, idempotency_key, certificate_id, decision_reason, created_at, decided_at FROM enrolments;
DROP TABLE enrolments;
ALTER TABLE enrolments_v3 RENAME TO enrolments;

CREATE TABLE idempotency_keys (
    principal       TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    operation       TEXT   NOT NULL,
    request_hash    BLOB   NOT NULL,
    result          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE instances (
    id           TEXT   PRIMARY KEY,
    description  TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
