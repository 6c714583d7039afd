-- Custom SQL migration file, put your code below! --
ALTER TABLE "users" ADD COLUMN "display_name" text;--> statement-breakpoint
UPDATE "users" SET "display_name" = coalesce(nullif(btrim("name"), ''), split_part("email", '@', 1)) WHERE "display_name" IS NULL;--> statement-breakpoint
UPDATE "invoices" SET "paid_at" = coalesce("issued_at", "created_at") WHERE "status" = 'paid' AND "paid_at" IS NULL;--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "display_name" SET NOT NULL;