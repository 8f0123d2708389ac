-- Version 4: profile families (docs/profiles.md). Every authority follows its root's family;
-- a SHAKEN hierarchy's authorities also carry the trust domain: the SHAKEN certificate policy
-- OID and the domain CRL signer's name (DER), which every certificate below the root writes.
-- The PostgreSQL twin is migrations/postgres/0004_profile_family.sql.

ALTER TABLE authorities ADD COLUMN profile_family TEXT NOT NULL DEFAULT 'tsca'
    CHECK (profile_family IN ('tsca', 'shaken'));
ALTER TABLE authorities ADD COLUMN shaken_policy TEXT;
ALTER TABLE authorities ADD COLUMN shaken_crl_issuer BLOB;
