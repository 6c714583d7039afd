-- Billing plans offered to tenants.
CREATE TABLE public.plans (
    id                  text        PRIMARY KEY,
    name                text        NOT NULL,
    monthly_price_cents bigint      NOT NULL CHECK (monthly_price_cents >= 0),
    currency_code       char(3)     NOT NULL REFERENCES public.currencies (code),
    max_projects        integer     CHECK (max_projects IS NULL OR max_projects > 0),  -- NULL: unlimited
    max_users           integer     CHECK (max_users IS NULL OR max_users > 0),
    is_public           boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.plans (id, name, monthly_price_cents, currency_code, max_projects, max_users, is_public) VALUES
    ('free',       'Free',          0, 'USD',    3,    5, true),
    ('team',       'Team',       4900, 'USD',   50,   50, true),
    ('enterprise', 'Enterprise', 99900, 'USD', NULL, NULL, false)
ON CONFLICT (id) DO NOTHING;
