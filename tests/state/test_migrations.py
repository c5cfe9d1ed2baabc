"""Migrations: a fresh database reaches every head, a current one is left alone,
the migrated schema is exactly the declared MetaData, and newer databases are refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from contimg.state import SchemaVersionError, _migrate, open_repository, upgrade
from contimg.state._migrate import alembic_config, current_revisions, head_revisions
from contimg.state.schema import metadata


def test_revision_graph_read_without_alembic_matches_alembic() -> None:
    script = _migrate.script_directory()
    assert head_revisions() == frozenset(script.get_heads())
    assert _migrate._known_revisions() == {rev.revision for rev in script.walk_revisions()}


def test_heads_include_the_core_revision() -> None:
    script = _migrate.script_directory()
    assert "0001_core" in {rev.revision for rev in script.walk_revisions()}
    # Every area branches off 0001_core, so every head descends from it.
    for head in head_revisions():
        chain = {rev.revision for rev in script.iterate_revisions(head, "base")}
        assert "0001_core" in chain


def test_fresh_database_is_upgraded_to_every_head(fresh_state_url: str) -> None:
    with open_repository(fresh_state_url) as repo:
        with repo.read() as conn:
            assert current_revisions(conn) == head_revisions()
        tables = set(sa.inspect(repo.engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert {"runs", "stage_executions", "log_records", "alembic_version"} <= tables


def test_upgrade_at_heads_does_not_run_alembic(
    fresh_state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_repository(fresh_state_url) as repo:
        run = repo.create_run("w", trigger="t", inputs={"keep": True})

        def _forbidden(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("alembic ran although the database is at every head")

        monkeypatch.setattr(command, "upgrade", _forbidden)
        monkeypatch.setattr(_migrate, "script_directory", _forbidden)
        assert _migrate.upgrade_engine(repo.engine) == tuple(sorted(head_revisions()))
        assert repo.get_run(run.id) == run


def test_migrated_schema_matches_the_declared_metadata(fresh_state_url: str) -> None:
    with open_repository(fresh_state_url) as repo, repo.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    assert diffs == []


def test_upgrade_cli_entry_reports_heads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'contimg.sqlite3'}"
    assert upgrade(url) == tuple(sorted(head_revisions()))
    assert upgrade(url) == tuple(sorted(head_revisions()))


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    with open_repository(url) as repo:
        with repo.engine.connect() as conn, conn.begin():
            command.downgrade(alembic_config(conn), "base")
        assert set(sa.inspect(repo.engine).get_table_names()) <= {"alembic_version"}
        assert _migrate.upgrade_engine(repo.engine) == tuple(sorted(head_revisions()))
        assert repo.list_runs() == []


def test_database_from_newer_code_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    with open_repository(url) as repo, repo.write() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999_future')")
    with pytest.raises(SchemaVersionError, match="9999_future"):
        open_repository(url)


@pytest.mark.parametrize(
    "backend", ["sqlite_file", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_simultaneous_upgrades_of_a_fresh_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    start = threading.Barrier(3)
    results: list[tuple[str, ...]] = []
    errors: list[BaseException] = []

    def _upgrade() -> None:
        start.wait(timeout=30)
        try:
            results.append(upgrade(url))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=_upgrade) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert results == [tuple(sorted(head_revisions()))] * 3
