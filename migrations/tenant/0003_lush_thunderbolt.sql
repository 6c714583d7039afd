ALTER TABLE "invoices" ADD COLUMN "paid_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "last_login_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "invoices_status_due_at_idx" ON "invoices" USING btree ("status","due_at");--> statement-breakpoint
CREATE INDEX "users_last_login_at_idx" ON "users" USING btree ("last_login_at" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "projects_owner_id_name_idx" ON "projects" USING btree ("owner_id",lower("name")) WHERE "projects"."archived_at" is null;