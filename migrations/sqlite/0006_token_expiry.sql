-- Version 6: API tokens may expire (docs/operations.md, "Rotation"). NULL: the token lives until revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
