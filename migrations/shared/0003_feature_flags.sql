-- Global feature flags; a tenant's overrides live in its own schema.
CREATE TABLE public.feature_flags (
    key                text        PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_.-]*$'),
    description        text        NOT NULL DEFAULT '',
    enabled_by_default boolean     NOT NULL DEFAULT false,
    rollout_percent    smallint    NOT NULL DEFAULT 0 CHECK (rollout_percent BETWEEN 0 AND 100),
    min_plan_id        text        REFERENCES public.plans (id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX feature_flags_min_plan_id_idx ON public.feature_flags (min_plan_id);

INSERT INTO public.feature_flags (key, description, enabled_by_default, rollout_percent, min_plan_id) VALUES
    ('invoices.pdf_export', 'Export invoices as PDF', true, 100, NULL),
    ('projects.archiving', 'Archive projects instead of deleting them', false, 25, NULL),
    ('sso.saml', 'SAML single sign-on', false, 0, 'enterprise')
ON CONFLICT (key) DO NOTHING;
