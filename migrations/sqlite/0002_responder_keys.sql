-- Version 2: certificates whose key this service holds (delegated OCSP responders) point at
-- it, so a responder certificate and its key are found together.
ALTER TABLE certificates ADD COLUMN key_id INTEGER REFERENCES keys (id);
CREATE INDEX certificates_responder ON certificates (subject_authority_id, profile, status);
