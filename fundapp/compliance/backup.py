"""`fundapp backup FILE` and `fundapp restore FILE`.

SQLite: the sqlite3 online backup API, page by page, consistent while the app keeps running; the
backup is itself an SQLite database file. PostgreSQL: `pg_dump --format=custom` and
`pg_restore --clean --if-exists --single-transaction` with the configured URL (the password goes
to the tools through PGPASSWORD, never on their command line). The ledger's triggers travel with
the schema, and a restored database passes `fundapp ledger verify`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    pass


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend in ("sqlite", "postgresql"):
        return backend
    raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump/pg_restore, and the environment carrying the password."""
    parsed = make_url(url)
    args = ["--dbname", parsed.database or "postgres"]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed or not on PATH; on Debian: "
                          "apt-get install postgresql-client (the same major version as the "
                          "server, or newer)")
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tool = Path(command[0]).name
        raise BackupError(f"{tool} failed (exit {result.returncode}): "
                          f"{(result.stderr or result.stdout).strip()[:2000]}")


def backup_database(url: str, target: Path) -> Path:
    """Write a backup of the database at `url` to `target` (written under .part, then renamed)."""
    kind = _kind(url)
    target = target.resolve()
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    try:
        if kind == "sqlite":
            source_path = _sqlite_path(url)
            if not source_path.exists():
                raise BackupError(f"the SQLite database {source_path} does not exist")
            source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
            copy = sqlite3.connect(part)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            args, env = _pg_args(url)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(part), *args], env)
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return target


def restore_database(url: str, source: Path) -> None:
    """Replace the database at `url` with the backup in `source`.

    The caller must have closed the app's connections (engine.dispose()) first.
    """
    kind = _kind(url)
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    with source.open("rb") as fh:
        head = fh.read(16)
    if kind == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            found = "a PostgreSQL dump" if head.startswith(PG_MAGIC) else "not an SQLite backup"
            raise BackupError(f"{source} is {found}; the configured database is SQLite")
        target_path = _sqlite_path(url)
        backup = sqlite3.connect(f"file:{source.resolve()}?mode=ro", uri=True)
        try:
            problem = backup.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupError(f"{source} is a damaged SQLite file: {problem}")
            target = sqlite3.connect(target_path)
            try:
                backup.backup(target)  # replaces every page of the target, in one go
            finally:
                target.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} cannot be read as an SQLite database: {exc}") from None
        finally:
            backup.close()
        return
    if not head.startswith(PG_MAGIC):
        found = "an SQLite file" if head.startswith(SQLITE_MAGIC) else "not a pg_dump archive"
        raise BackupError(f"{source} is {found}; the configured database is PostgreSQL "
                          "(expected a pg_dump --format=custom file)")
    args, env = _pg_args(url)
    _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", "--exit-on-error", *args, str(source)], env)
