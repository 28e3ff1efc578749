"""Grant tables; no foreign key to `accounts`, so the app can live in another database."""
