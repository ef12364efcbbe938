-- Built without blocking writes to "Asset": migrated runs a CONCURRENTLY statement outside a
-- transaction on its own.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "Asset_ownerId_idx" ON "Asset"("ownerId");
