"""Metadata store: SQLAlchemy Core tables, Alembic migrations and the store facade."""
