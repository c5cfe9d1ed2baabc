"""Alembic migrations of the state database (run through ``contimg.state.upgrade``)."""
