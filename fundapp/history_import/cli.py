"""`fundapp import FILE`: the history workbook from the command line, with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


def _print_report(report: dict) -> None:
    for sheet in report["sheets"]:
        if sheet["rows"]:
            click.echo(f"  {sheet['name']}: {sheet['rows']} rows, {sheet['applied']} applied")
    for problem in report["problems"]:
        click.echo(f"  ! {problem['sheet']} / {problem['row']} / {problem['column']}: "
                   f"{problem['message']}")
    for diff in report["differences"]:
        click.echo(f"  ≠ conversion {diff['grant']} (row {diff['row']}) {diff['field']}: "
                   f"recorded {diff['recorded']}, engine {diff['computed']}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the workbook; write nothing.")
@click.option("--accept-differences", is_flag=True,
              help="Keep the recorded figures of conversions that differ from the engine's.")
@click.option("--reason", default="", help="Why the recorded figures are kept.")
@click.option("--ic-reference", default="", help="The IC resolution that accepts them.")
@click.option("--actor", default="cli", help="Who imports (an e-mail address), for the ledger.")
@click.option("--locale", default="", help="zh or en (default: the fund's language).")
@click.option("--no-bar", is_flag=True, help="No progress bar.")
@with_appcontext
def import_command(file: Path, dry_run: bool, accept_differences: bool, reason: str,
                   ic_reference: str, actor: str, locale: str, no_bar: bool):
    """Import the fund's history from one XLSX workbook (dry run first, then all or nothing)."""
    from fundapp.errors import AppError, describe
    from fundapp.extensions import db
    from fundapp.history_import.operations import ImportRefused, run_import
    from fundapp.tasks.worker import text_bar
    from fundapp.unit_of_work import transaction

    if accept_differences and not (reason.strip() and ic_reference.strip()):
        raise click.UsageError("--accept-differences needs --reason and --ic-reference.")
    content = file.read_bytes()
    locale = locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh")
    bar = None if no_bar else text_bar(sys.stderr)
    try:
        with transaction():
            report = run_import(db.session, content, filename=file.name, actor=actor,
                                dry_run=dry_run, locale=locale,
                                reason=reason if accept_differences else "",
                                ic_reference=ic_reference if accept_differences else "",
                                progress=bar)
    except ImportRefused as exc:
        _print_report(exc.report)
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.details.items()
                           if k != "report" and v)
        raise click.ClickException(str(exc.message) + (f" ({fields})" if fields else "")) \
            from None
    except AppError as exc:
        raise click.ClickException(describe(exc)) from None
    if report.get("already_imported"):
        click.echo(f"{file.name}: already imported (sha256 {report['sha256']}); nothing created")
        return
    _print_report(report)
    verb = "dry run" if dry_run else "imported"
    click.echo(f"{file.name}: {verb}, {report['rows']} rows, {len(report['problems'])} "
               f"problem(s), {len(report['differences'])} difference(s), "
               f"sha256 {report['sha256']}")
    if dry_run and report["problems"]:
        sys.exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(import_command)
