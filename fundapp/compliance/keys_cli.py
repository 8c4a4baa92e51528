"""`fundapp keys`: generate, register (rotate) and list the ledger signing keys (issue 16).

`keys generate` needs no database or configuration (it makes the key the app refuses to start
without); `add` and `list` run with the app. Registered by fundapp.cli.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

keys = click.Group("keys", help="The Ed25519 keys that sign ledger exports (generate, rotate).")


@keys.command("generate")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Write the private key (PEM, mode 0600) to this new file; "
                   "default: print it on standard output.")
def generate_command(out: Path | None):
    """Make a new Ed25519 signing key and print its fingerprint."""
    from fundapp.compliance.signing import (
        SigningKeyError,
        _private_key,
        fingerprint,
        generate_pem,
        write_new_key,
    )

    if out is None:
        pem = generate_pem()
        click.echo(pem.decode("ascii"), nl=False)
        print_ = fingerprint(_private_key(pem, "the new key").public_key())
        click.echo(f"fingerprint (sha256 of the raw public key): {print_}", err=True)
        return
    try:
        key = write_new_key(out)
    except (SigningKeyError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new ledger signing key written to {out} (mode 0600)\n"
               f"fingerprint (sha256 of the raw public key): {key.fingerprint}\n"
               f"Give it to every host as FUNDAPP_LEDGER_SIGNING_KEY={out} (or its text as "
               "FUNDAPP_LEDGER_SIGNING_KEY_PEM); to rotate, list it after the current key and run "
               f"`fundapp keys add --pem {out} --valid-from YYYY-MM-DD`.")


@keys.command("add")
@click.option("--pem", "pem", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The new key: its private PEM file, or only its public PEM.")
@click.option("--valid-from", "valid_from", default=None,
              help="First day it signs, YYYY-MM-DD (from 00:00 Asia/Shanghai), not in the "
                   "past; default or today: from now on.")
@with_appcontext
def add_command(pem: Path, valid_from: str | None):
    """Register a new signing key from a day on (rotation); written to the ledger."""
    from fundapp.compliance.signing import (
        SigningKeyError,
        add_signing_key,
        configured_keys,
        read_public_key,
    )
    from fundapp.errors import AppError
    from fundapp.extensions import db
    from fundapp.unit_of_work import transaction

    try:
        day = date.fromisoformat(valid_from) if valid_from else None
    except ValueError:
        raise click.BadParameter(f"{valid_from!r} is not a date (YYYY-MM-DD)",
                                 param_hint="--valid-from") from None
    try:
        public = read_public_key(pem.read_bytes(), str(pem))
        with transaction():
            row = add_signing_key(db.session, public, valid_from=day, actor="cli")
            print_, since = row.fingerprint, row.valid_from
    except (SigningKeyError, OSError, AppError) as exc:
        raise click.ClickException(str(exc)) from None
    except IntegrityError:  # the unique fingerprint / valid_from: someone registered one too
        raise click.ClickException("another key was registered at the same moment; see "
                                   "`fundapp keys list` and try again") from None
    click.echo(f"signing key {print_} registered: it signs exports made from {_when(since)} on; "
               "older exports keep verifying with the key of their time "
               "(GET /api/v1/ledger/public-keys).")
    try:
        here = {k.fingerprint for k in configured_keys()}
    except SigningKeyError:
        here = set()
    if print_ not in here:
        click.echo("warning: this host is not configured with its private key yet. Before that "
                   "day, add it to FUNDAPP_LEDGER_SIGNING_KEY (paths separated by ':') or "
                   "FUNDAPP_LEDGER_SIGNING_KEY_PEM on every host, or exports will be refused.",
                   err=True)


@keys.command("list")
@with_appcontext
def list_command():
    """Print every public key's fingerprint and validity (what auditors receive)."""
    from fundapp.compliance.signing import SigningKeyError, published_keys
    from fundapp.extensions import db

    try:
        infos = published_keys(db.session)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    for info in infos:
        since = _when(info.valid_from) if info.valid_from else "(not registered)"
        until = _when(info.valid_until) if info.valid_until else "-"
        mark = "current" if info.current else ""
        click.echo(f"{info.fingerprint}  from {since:32} until {until:32}  {mark}".rstrip())
    sys.stdout.flush()


def _when(moment) -> str:
    from fundapp.compliance.signing import shanghai_iso

    return shanghai_iso(moment) or ""
