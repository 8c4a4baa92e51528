"""Command-line parts of the compliance area: ledger exports, offline verification, the public
key, backup and restore, and a one-off scheduler catch-up. Registered by fundapp.cli."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from fundapp.errors import AppError, describe
from fundapp.extensions import db
from fundapp.unit_of_work import transaction


def _fail(exc: Exception) -> click.ClickException:
    if isinstance(exc, AppError):
        return click.ClickException(describe(exc))
    return click.ClickException(str(exc))


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


@click.command("export")
@click.option("--from", "from_", required=True, help="First day, YYYY-MM-DD (Asia/Shanghai).")
@click.option("--to", "to", required=True, help="Last day, YYYY-MM-DD (inclusive).")
@click.option("--scope", default="all", show_default=True,
              help="all, action (an action prefix) or subject_type.")
@click.option("--value", default="", help="The action prefix or subject type for --scope.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="A .zip file, or a directory to create; default: a .zip in the current "
                   "directory.")
@with_appcontext
def export_command(from_: str, to: str, scope: str, value: str, out: Path | None):
    """Write a signed export of the ledger for auditors (recorded in the ledger)."""
    from fundapp.compliance.exports import ExportScope, create_export, write_bundle
    from fundapp.compliance.signing import SigningKeyError
    from fundapp.tasks.worker import text_bar

    spec = ExportScope(_date(from_, "--from"), _date(to, "--to"), scope.strip(), value.strip())
    with force_locale("en"):
        try:
            with transaction():
                result = create_export(db.session, spec, actor="cli", destination=out,
                                       fund_name=current_app.config.get("FUND_NAME", ""),
                                       progress=text_bar())
                if result.path is None:  # no copy is kept on the host: one for the operator
                    result = dataclasses.replace(result, path=write_bundle(
                        db.session, result.export, Path.cwd() / result.export.file_name))
        except (AppError, SigningKeyError) as exc:
            raise _fail(exc) from None
    e = result.export
    click.echo(f"export {e.id} written to {result.path}\n"
               f"  entries in scope: {e.entry_count}; chain {e.first_seq}..{e.last_seq} "
               f"({e.chain_count} entries)\n  chain hash after: {e.chain_hash_after}\n"
               f"  manifest sha256: {e.manifest_sha256}\n"
               f"  signed by the fund's key, fingerprint {e.key_fingerprint}\n"
               f"  auditors verify it against that fingerprint, received from the fund:\n"
               f"    python3 verify_ledger_export.py {result.path.name} "
               f"--fingerprint {e.key_fingerprint}")


@click.command("verify-export")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(path_type=Path), default=None,
              help="The fund's public key (PEM); default: this installation's key.")
@click.option("--fingerprint", default=None,
              help="The fund's published key fingerprint (64 hex digits) to pin instead.")
@with_appcontext
def verify_export_command(file: Path, public_key: Path | None, fingerprint: str | None):
    """Verify an export offline: signature, file hashes, the chain; names the first bad entry.

    The key is always pinned: the one given, the fingerprint given, or this installation's key of
    the export's time (the published key its manifest names, else the current one).
    """
    from fundapp.compliance.signing import SigningKeyError, public_pem_for_export
    from fundapp.compliance.verify_export import UnusableExport, verify_export

    try:
        if public_key is not None:
            pem = public_key.read_bytes()
        elif fingerprint is None:
            pem = public_pem_for_export(db.session, file).encode()
        else:
            pem = None
        report = verify_export(file, pem, fingerprint)
    except (UnusableExport, OSError, SigningKeyError) as exc:
        raise click.ClickException(f"cannot verify: {exc}") from None
    click.echo("\n".join(report.lines()))
    if not report.ok:
        sys.exit(1)


@click.command("public-key")
@with_appcontext
def public_key_command():
    """Print the fund's ledger signing public key (PEM) and its fingerprint."""
    from fundapp.compliance.signing import SigningKeyError, load_signing_key

    try:
        key = load_signing_key()
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key.public_pem, nl=False)
    click.echo(f"fingerprint (sha256 of the raw key): {key.fingerprint}\n"
               "Publish this fingerprint to auditors through a channel of its own; they pin it "
               "with verify_ledger_export.py EXPORT.zip --fingerprint FINGERPRINT.")


@click.command("backup")
@click.argument("file", type=click.Path(path_type=Path))
@with_appcontext
def backup_command(file: Path):
    """Back up the database to FILE (SQLite online backup, or pg_dump for PostgreSQL)."""
    from fundapp.compliance.backup import BackupError, backup_database

    try:
        path = backup_database(db.engine.url.render_as_string(hide_password=False), file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {path} ({path.stat().st_size:,} bytes)")


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: replace the current database.")
@with_appcontext
def restore_command(file: Path, yes: bool):
    """Replace the database with the backup in FILE, then verify the ledger."""
    from fundapp.compliance.backup import BackupError, restore_database
    from fundapp.compliance.ledger import verify_chain

    url = db.engine.url.render_as_string(hide_password=False)
    if not yes:
        click.confirm(f"Replace everything in {db.engine.url.render_as_string()} with {file}?",
                      abort=True)
    db.session.remove()
    db.engine.dispose()
    try:
        restore_database(url, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    result = verify_chain(db.session)
    db.session.rollback()
    if not result.ok:
        click.echo(f"restored, but the ledger is BROKEN at {result.problem}", err=True)
        sys.exit(1)
    click.echo(f"restored from {file}; ledger ok: {result.count} entries")


@click.command("catch-up")
@click.option("--now", "now", default=None, help="Pretend it is this time (ISO 8601, with zone).")
@with_appcontext
def catch_up_command(now: str | None):
    """Run every job's latest missed occurrence once, then exit (the same claim as `run`)."""
    from fundapp.scheduler import catch_up

    moment = datetime.now(UTC)
    if now:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise click.BadParameter(f"{now!r} is not an ISO 8601 time",
                                     param_hint="--now") from None
        if moment.tzinfo is None:
            raise click.BadParameter("give a time zone, e.g. +08:00", param_hint="--now")
        from fundapp.compliance.exports import day_out_of_range

        if day_out_of_range(moment.date()) is not None:
            raise click.BadParameter(f"{now!r} is not between 1900 and 2200",
                                     param_hint="--now")
    for run in catch_up(moment):
        click.echo(f"{run.job_id} {run.scheduled_for.isoformat()} {run.outcome}: {run.message}")


def register(app: Flask, ledger: click.Group, scheduler: click.Group) -> None:
    for command in (export_command, verify_export_command, public_key_command):
        ledger.add_command(command)
    scheduler.add_command(catch_up_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
