-- Media retention policies (GET/POST/PUT/PATCH/DELETE /api/v2/recording/mediaretentionpolicies and the cross-platform
-- family under /api/v2/recording/crossplatform/mediaretentionpolicies).
--
-- A policy is kept as the validated body (`policy`: conditions, actions, media policies, and what this store only
-- stores) with the members it is listed and filtered by in columns of their own. `policy_errors` holds the problems
-- found when it was saved (conditions this store cannot evaluate). A policy with errors never applies. Enabled
-- policies set the archive and delete dates of recordings ingested after they are saved, never of earlier ones.

-- CreateEnum
CREATE TYPE "RetentionPolicyFamily" AS ENUM ('classic', 'crossplatform');

-- CreateTable
CREATE TABLE "retention_policies" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "family" "RetentionPolicyFamily" NOT NULL,
    "name" TEXT NOT NULL,
    "enabled" BOOLEAN NOT NULL,
    "policy" JSONB NOT NULL,
    "policy_errors" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "modified_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "retention_policies_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "retention_policies_organization_id_family_name_idx" ON "retention_policies"("organization_id", "family", "name");

-- AddForeignKey
ALTER TABLE "retention_policies" ADD CONSTRAINT "retention_policies_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
