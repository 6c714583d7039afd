-- Seed of the demo plan's throwaway database (`ephemeral.seed` in plans/demo.yaml): the tenant
-- registry that `tenants.discover.sql` reads. Every 12th tenant is inactive, so discovery skips it.
-- The number of tenants is the setting tenantplan.demo_tenants (`tenantplan demo --tenants N`), 36 by default.
CREATE TABLE public.tenants (
    id text PRIMARY KEY,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.tenants (id, active)
SELECT CASE WHEN i <= 18 THEN words[i] ELSE words[(i - 1) % 18 + 1] || ((i - 1) / 18 + 1) END,
       i % 12 <> 0
FROM (SELECT ARRAY['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'cyberdyne',
                   'soylent', 'tyrell', 'oscorp', 'vandelay', 'monarch', 'gringotts', 'aperture', 'massive',
                   'dunder'] AS words) AS w,
     generate_series(1, coalesce(nullif(current_setting('tenantplan.demo_tenants', true), ''), '36')::int) AS i;
