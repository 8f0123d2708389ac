-- Version 3: the transactional gateway (docs/architecture.md).
--
-- * keys.purpose: a key serves one role for life, and the role picks its passphrase (an
--   OCSP-only node opens responder keys only). Existing responder keys are the ones a
--   certificate points to; every other key signed for an authority.
-- * certificates.public_key_sha256: the key policy recognises one public key across
--   certificates (filled for existing rows by tsca when it opens the database).
-- * certificates.reserved_by: the instance whose lease covers a reservation.
-- * certificates_key: the orphaned-key sweep asks whether any certificate points to a key.
-- * authorities.revocation_seq / crls.revocation_seq: a CRL records how many revocations of
--   its issuer it includes, so one that misses a revocation is recognised and replaced. Every
--   online authority starts at 1 so that each gets one fresh CRL after the upgrade.
-- * assignments.expiry_handled_at: the expiry sweep's mark.
-- * enrolments: status 'failed' (issuance could not finish). The idempotency_key column is
--   no longer written: keys of every operation live in idempotency_keys.
-- * idempotency_keys, instances: new tables.

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

ALTER TABLE enrolments DROP CONSTRAINT enrolments_status_check;
ALTER TABLE enrolments ADD CONSTRAINT enrolments_status_check
    CHECK (status IN ('pending', 'approved', 'rejected', 'issued', 'failed'));

-- What a request carrying an Idempotency-Key produced, written in the transaction of its
-- effect. The primary key makes a second effect for the same key impossible.
CREATE TABLE idempotency_keys (
    principal       TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    operation       TEXT   NOT NULL,
    request_hash    BYTEA  NOT NULL,
    result          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Running tsca processes and their heartbeats (the leases of their reservations).
CREATE TABLE instances (
    id           TEXT   PRIMARY KEY,
    description  TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
