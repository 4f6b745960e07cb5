"""``gridhub token create|revoke|list``: API tokens, stored hashed (DESIGN.md §5).
``create`` prints the plaintext alone on its last line, for scripts; nothing else
ever shows it again."""

from __future__ import annotations

import sys

import click

from gridhub import bootstrap
from gridhub.settings import Settings


@click.group()
def token() -> None:
    """API tokens (stored hashed)."""


@token.command("create")
@click.option("--role", required=True, help="grid_worker, operator, department, system, ...")
@click.option("--name", required=True, help="who holds it")
@click.option("--scope", default=None, help="grid/community code, department or source")
def token_create(role: str, name: str, scope: str | None) -> None:
    """Create a token; the plaintext is printed alone on the last line."""
    settings = Settings()
    bootstrap.migrate(settings)
    plaintext, record = bootstrap.token_store(settings).create(role, name, scope)
    click.echo(f"token {record.id} for {record.name} (role {record.role}, scope {record.scope})")
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    ok = bootstrap.token_store(Settings()).revoke(token_id)
    click.echo("revoked" if ok else "no such token")
    sys.exit(0 if ok else 1)


@token.command("list")
def token_list() -> None:
    """List tokens (never their plaintext)."""
    for rec in bootstrap.token_store(Settings()).list():
        state = "revoked" if rec.revoked_at else "active"
        click.echo(f"{rec.id}\t{rec.role}\t{rec.name}\t{rec.scope or '-'}\t{state}")
