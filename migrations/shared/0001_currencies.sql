-- ISO 4217 currencies used by billing plans and by every tenant's invoices.
CREATE TABLE public.currencies (
    code        char(3)     PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name        text        NOT NULL,
    minor_units smallint    NOT NULL DEFAULT 2 CHECK (minor_units BETWEEN 0 AND 4),
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.currencies (code, name, minor_units) VALUES
    ('USD', 'US Dollar', 2),
    ('EUR', 'Euro', 2),
    ('GBP', 'Pound Sterling', 2),
    ('JPY', 'Yen', 0),
    ('CHF', 'Swiss Franc', 2)
ON CONFLICT (code) DO NOTHING;
