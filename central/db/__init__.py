"""Central's storage: SQLAlchemy models, sessions and Alembic migrations."""
