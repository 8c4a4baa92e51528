"""The `fundapp` console script: the Flask CLI of this app plus its own commands."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from fundapp.errors import AppError, describe
from fundapp.extensions import db
from fundapp.unit_of_work import transaction


def _create_app() -> Flask:
    from fundapp.app import create_app

    return create_app()


def main() -> None:
    FlaskGroup(create_app=_create_app, add_default_commands=True,
               help="fundapp: the grant-plus-investment fund system.")(prog_name="fundapp")


users = click.Group("users", help="Manage users.")
ledger = click.Group("ledger", help="The compliance ledger.")
demo = click.Group("demo", help="The demo fund.")
scheduler = click.Group("scheduler", help="The job scheduler (its own process).")


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
@with_appcontext
def scheduler_run_command():
    """Run the scheduler in this process until interrupted."""
    from fundapp.scheduler import run_scheduler

    run_scheduler()


def register_commands(app: Flask) -> None:
    from fundapp.compliance.cli import register as register_compliance

    for group in (users, ledger, demo, scheduler):
        app.cli.add_command(group)
    # ledger export / verify-export / public-key, scheduler catch-up, backup, restore (issue 7)
    register_compliance(app, ledger, scheduler)
