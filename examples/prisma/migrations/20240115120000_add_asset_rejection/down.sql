-- Undoes 20240115120000_add_asset_rejection (used by a down rollback).
ALTER TABLE "Asset" DROP COLUMN "rejectionReason";
ALTER TABLE "Asset" DROP COLUMN "rejectedById";
ALTER TABLE "Asset" DROP COLUMN "rejectedAt";
