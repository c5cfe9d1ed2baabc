"""Alembic environment for the state database.

Normally run by :func:`contimg.state.upgrade`, which hands over an open
connection (``config.attributes["connection"]``) already inside a locked
transaction. Stand-alone use (``alembic -x url=sqlite:///... upgrade heads`` with
a hand-made alembic.ini pointing ``script_location`` here) builds its own engine.
"""

from __future__ import annotations

from alembic import context

import contimg.state  # noqa: F401  (imports every area's store: the full MetaData)
from contimg.state._engine import create_state_engine
from contimg.state.schema import metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or set sqlalchemy.url")
    engine = create_state_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
