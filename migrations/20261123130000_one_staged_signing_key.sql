-- At most one staged ('next') signing key per tenant, as signing_keys_one_current does for the
-- current one: the rotation refuses a second staged key (and serializes concurrent rotations), and
-- this holds the same for any other writer (a script, psql).
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (tenant_id) WHERE state = 'next';
