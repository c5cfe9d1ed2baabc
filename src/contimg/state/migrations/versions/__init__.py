"""Alembic revision files (one branch per area off ``0001_core``)."""
