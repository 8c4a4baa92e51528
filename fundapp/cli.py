"""The `fundapp` console script: the Flask CLI of this app plus its own commands."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from fundapp.errors import AppError, describe
from fundapp.extensions import db
from fundapp.unit_of_work import transaction


def _create_app() -> Flask:
    from fundapp.app import create_app
    from fundapp.config import ConfigurationError

    try:
        return create_app()
    except ConfigurationError as exc:  # e.g. keys missing on PostgreSQL: say what to set
        click.echo(str(exc), err=True)
        sys.exit(2)


def main() -> None:
    from fundapp.compliance.keys_cli import keys

    group = FlaskGroup(create_app=_create_app, add_default_commands=True,
                       help="fundapp: the grant-plus-investment fund system.")
    group.add_command(keys)  # `keys generate` works before the app can start (issue 16)
    group(prog_name="fundapp")


users = click.Group("users", help="Manage users.")
ledger = click.Group("ledger", help="The compliance ledger.")
demo = click.Group("demo", help="The demo fund.")
scheduler = click.Group("scheduler", help="The job scheduler (its own process).")
fund = click.Group("fund", help="The fund this installation runs (set up once).")


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", "roles", required=True, multiple=True,
              help="admin, fund_manager, ic_member or auditor; repeat for several.")
@click.option("--name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_user_command(email: str, roles: tuple[str, ...], name: str, password_stdin: bool):
    """Create a user (the password is asked for, or read from stdin)."""
    from fundapp.auth.operations import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction():
            user = create_user(db.session, email=email, password=password, roles=roles,
                               name=name, actor="cli")
    except AppError as exc:
        raise click.ClickException(describe(exc)) from None
    click.echo(f"created user {user.email} ({', '.join(sorted(r.value for r in user.roles))})")


def _fund_options(command):
    options = [
        click.option("--name", required=True, help="The fund's name in Chinese."),
        click.option("--name-en", default="", help="The fund's name in English."),
        click.option("--committed-capital", "committed_amount", required=True,
                     help="Committed capital in CNY, exact, e.g. 500000000.00."),
        click.option("--inception-date", "established_on", required=True,
                     help="YYYY-MM-DD, not after today (Shanghai)."),
        click.option("--platform", "platform_name", required=True,
                     help="The holding platform entity that holds the fund's equity."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _create_fund(**values: str) -> None:
    from fundapp.fund.operations import create_fund
    from fundapp.fund.queries import fund_facts
    from fundapp.fund.schemas import FundCreateSchema
    from fundapp.inputs import load

    try:
        with transaction():
            data = load(FundCreateSchema(), {k: v for k, v in values.items() if v})
            made = fund_facts(db.session, create_fund(db.session, actor="cli", **data))
    except AppError as exc:
        raise click.ClickException(describe(exc)) from None
    click.echo(f"fund set up: {made['name']} (committed capital {made['committed_amount']} CNY, "
               f"inception {made['established_on'].isoformat()}, policy version "
               f"{made['policy_version']} in force)")


@fund.command("create")
@_fund_options
@with_appcontext
def fund_create_command(**values: str):
    """Set up the fund (once) with the default policy version in force from its inception."""
    _create_fund(**values)


@click.command("init")
@_fund_options
@with_appcontext
def init_command(**values: str):
    """The same as `fundapp fund create`: set up the fund on an empty installation."""
    _create_fund(**values)


@fund.command("show")
@with_appcontext
def fund_show_command():
    """Print the fund as JSON (what GET /api/v1/fund answers)."""
    from fundapp.fund.queries import fund_facts, the_fund
    from fundapp.fund.schemas import FundSchema

    row = the_fund(db.session)
    if row is None:
        raise click.ClickException("the fund is not set up yet: run `fundapp fund create`")
    click.echo(json.dumps(FundSchema().dump(fund_facts(db.session, row)), ensure_ascii=False))


@ledger.command("verify")
@with_appcontext
def verify_command():
    """Walk the hash chain and name the first bad entry."""
    from fundapp.compliance.ledger import verify_chain

    result = verify_chain(db.session)
    if result.ok:
        click.echo(f"ledger ok: {result.count} entries, head {result.last_hash}")
        return
    click.echo(f"ledger BROKEN at {result.problem} (checked {result.count} good entries before it)",
               err=True)
    sys.exit(1)


@demo.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when a fund already exists.")
@with_appcontext
def demo_load_command(if_empty: bool):
    """Load the demo fund and one user of every role."""
    from fundapp.demo import DEMO_PASSWORD, load_demo

    with transaction():
        created = load_demo(db.session, if_empty=if_empty)
    if created is None:
        click.echo("demo: a fund already exists; nothing loaded")
        return
    click.echo("demo fund loaded. Sign in with the password "
               f"{DEMO_PASSWORD!r} as:")
    for email, roles in created:
        click.echo(f"  {email:32} {roles}")


@scheduler.command("run")
@click.option("--with-worker", is_flag=True, envvar="FUNDAPP_WORKER_IN_SCHEDULER",
              help="Also run a task worker (fundapp worker) in this process.")
@with_appcontext
def scheduler_run_command(with_worker: bool):
    """Run the scheduler in this process until interrupted."""
    from fundapp.scheduler import run_scheduler

    if with_worker:
        from flask import current_app

        from fundapp.tasks.worker import start_in_thread

        start_in_thread(current_app._get_current_object())
    run_scheduler()


def register_commands(app: Flask) -> None:
    from fundapp.compliance.cli import register as register_compliance
    from fundapp.tasks.cli import register as register_tasks

    for group in (users, ledger, demo, scheduler, fund, init_command):
        app.cli.add_command(group)
    # ledger export / verify-export / public-key, scheduler catch-up, backup, restore (issue 7)
    register_compliance(app, ledger, scheduler)
    from fundapp.compliance.keys_cli import keys

    app.cli.add_command(keys)  # generate, add, list: ledger signing keys (issue 16)
    register_tasks(app)  # fundapp worker (issue 16)
    from fundapp.compliance.security_cli import security_events

    app.cli.add_command(security_events)  # verify, export, verify-export (issue 16)
    from fundapp.history_import.cli import register as register_history_import

    register_history_import(app)  # fundapp import FILE (issue 12)
