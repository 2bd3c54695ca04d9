-- AlterTable
ALTER TABLE "annotations" DROP CONSTRAINT "annotations_pkey",
ADD CONSTRAINT "annotations_pkey" PRIMARY KEY ("recording_id", "id");

