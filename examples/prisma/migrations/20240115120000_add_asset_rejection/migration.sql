-- Migration: Add rejection tracking to assets
-- Ticket: DASCMS-123

ALTER TABLE "Asset" ADD COLUMN "rejectedAt" TIMESTAMP(3);
ALTER TABLE "Asset" ADD COLUMN "rejectedById" TEXT;
ALTER TABLE "Asset" ADD COLUMN "rejectionReason" TEXT;
