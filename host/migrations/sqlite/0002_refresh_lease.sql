-- A connection's OAuth refresh is leased, so that of several processes on one database (a
-- server and its workers) only one calls the provider's token endpoint at a time. Unix ms.
ALTER TABLE connections ADD COLUMN refresh_lease_until BIGINT;
