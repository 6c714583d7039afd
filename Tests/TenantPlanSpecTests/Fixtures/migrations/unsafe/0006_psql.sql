\i setup.sql
