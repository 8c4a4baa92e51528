"""`fundapp security-events verify | export | verify-export`: the security-events chain from the
command line (registered by fundapp.cli)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext

from fundapp.extensions import db


def _date(value: str, name: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


@click.group("security-events")
def security_events() -> None:
    """Failed and throttled sign-ins, in their own hash chain."""


@security_events.command("verify")
@with_appcontext
def verify_command() -> None:
    """Walk the security-events chain and name the first event that does not match."""
    from fundapp.compliance.security_events import verify_security_chain

    result = verify_security_chain(db.session)
    db.session.rollback()
    if not result.ok:
        raise click.ClickException(f"security events chain BROKEN after {result.count} good "
                                   f"events: {result.problem}")
    click.echo(f"security events chain OK: {result.count} events, last hash {result.last_hash}")


@security_events.command("export")
@click.option("--from", "from_", required=True, help="First day, YYYY-MM-DD (Asia/Shanghai).")
@click.option("--to", "to", required=True, help="Last day, YYYY-MM-DD (inclusive).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="The .zip to write; default: security-events-FROM-TO.zip here.")
@with_appcontext
def export_command(from_: str, to: str, out: Path | None) -> None:
    """Write the signed export of the security events of those days (JSONL + signed manifest)."""
    from fundapp.compliance.security_events import build_export
    from fundapp.compliance.signing import SigningKeyError, load_signing_key

    first, last = _date(from_, "--from"), _date(to, "--to")
    if last < first:
        raise click.BadParameter("the end date is before the start date", param_hint="--to")
    try:
        key = load_signing_key()
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    export = build_export(db.session, first, last, key)
    db.session.rollback()
    target = out or Path(export.filename)
    target.write_bytes(export.data)
    m = export.manifest
    click.echo(f"{m['count']} security events written to {target}\n"
               f"  chain {m['first_seq']}..{m['last_seq']}, hash after: {m['chain_hash_after']}\n"
               f"  signed by the fund's key, fingerprint {key.fingerprint}")


@security_events.command("verify-export")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(exists=True, path_type=Path),
              default=None, help="The fund's public key (PEM); default: this installation's.")
@with_appcontext
def verify_export_command(file: Path, public_key: Path | None) -> None:
    """Verify an export offline: signature, file hash, the chain of its events."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from fundapp.compliance.security_events import UnusableSecurityExport, verify_export
    from fundapp.compliance.signing import load_signing_key

    key = (load_pem_public_key(public_key.read_bytes()) if public_key
           else load_signing_key().public)
    try:
        manifest = verify_export(file.read_bytes(), key)
    except UnusableSecurityExport as exc:
        raise click.ClickException(f"{file.name}: {exc}") from None
    click.echo(f"{file.name}: OK, {manifest['count']} events, signature and chain verify")
