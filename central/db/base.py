"""The declarative base every central table shares (one metadata for Alembic)."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
