"""Alembic migrations of the SQL schema; `livescore db upgrade` runs them."""
