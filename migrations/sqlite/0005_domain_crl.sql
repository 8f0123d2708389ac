-- Version 5: the SHAKEN domain CRL (docs/profiles.md, "The domain CRL"). A SHAKEN hierarchy's
-- CAs may not sign CRLs, so one domain CRL signer, a key held here and certified by the root
-- in its ceremony, signs an indirect CRL listing every revoked certificate of the domain.
-- The postgres twin is migrations/postgres/0005_domain_crl.sql.

-- The signer's key and certificate. Its key row is written with it (a refused request leaves
-- no key behind); the certificate arrives later, from the ceremony. One pending request and
-- one active signer per root at a time; an installed successor supersedes the active one.
CREATE TABLE crl_signers (
    id              INTEGER PRIMARY KEY,
    root_id         BIGINT NOT NULL REFERENCES authorities (id),
    key_id          BIGINT NOT NULL REFERENCES keys (id),
    csr_der         BLOB  NOT NULL,
    certificate_der BLOB,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'active', 'superseded')),
    created_at      BIGINT NOT NULL,
    installed_at    BIGINT,
    CHECK ((status = 'pending') = (certificate_der IS NULL))
);
CREATE UNIQUE INDEX crl_signers_one_pending ON crl_signers (root_id) WHERE status = 'pending';
CREATE UNIQUE INDEX crl_signers_one_active ON crl_signers (root_id) WHERE status = 'active';

-- Every domain CRL published, by root and cRLNumber (strictly increasing per root). domain_seq
-- is the domain's revocation count when the entries were read (the SHAKEN authorities'
-- revocation_seq summed, plus the root's latest cRLNumber), so a CRL that misses a
-- revocation is recognised.
CREATE TABLE domain_crls (
    root_id      BIGINT NOT NULL REFERENCES authorities (id),
    crl_number   BIGINT NOT NULL,
    der          BLOB  NOT NULL,
    this_update  BIGINT NOT NULL,
    next_update  BIGINT NOT NULL,
    domain_seq   BIGINT NOT NULL,
    signer_id    BIGINT NOT NULL REFERENCES crl_signers (id),
    PRIMARY KEY (root_id, crl_number)
);
