"""``gridhub token create|list|revoke|rotate`` and ``gridhub principal``
(also ``gridhub user``) ``create|disable|list``: who may call the API
(DESIGN.md §5, §8).

``token create`` makes a new principal with its first token (or, with
``--principal``, another token for an existing one) and prints the plaintext
alone on its last line, for scripts; nothing else ever shows it again. Every
change is audit-logged (actor ``cli:<os user>``). A revocation (``revoke``,
``rotate``, ``principal disable``) is written to the database and published on
the revocation topic every gateway follows (``gateway.revocations``): it holds
everywhere within seconds, and is published even while the database is away.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta

import click

from gridhub import bootstrap
from gridhub.settings import Settings
from schemas.envelope import INBOUND_TYPES
from schemas.revocations import Revocation
from sinks import audit
from sinks.audit import AuditLog
from sinks.tokens import TokenRecord, TokenStore, UnknownPrincipal


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli:unknown"


def _store(settings: Settings) -> TokenStore:
    settings.require("tokens")
    return bootstrap.token_store(settings)


def _audit(settings: Settings, action: str, target: str, **detail: object) -> None:
    AuditLog(bootstrap.engine(settings)).record(_actor(), action, target, detail=detail)


def publish_revocations(settings: Settings, revocations: list[Revocation]) -> str | None:
    """Publish on the revocation topic; the error's text if the broker did not take them."""
    try:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap,
            client_id="gridhub-cli",
            acks="all",
            request_timeout_ms=10_000,
            max_block_ms=5_000,
            **settings.kafka_security.kafka_python(),
        )
        try:
            for revocation in revocations:
                producer.send(
                    settings.topics.token_revocations,
                    key=revocation.key,
                    value=revocation.value(),
                ).get(timeout=10)
        finally:
            producer.close(timeout=5)
    except Exception as exc:  # reported; the database sweep still carries it
        return f"{type(exc).__name__}: {exc}"
    return None


def _revoke(settings: Settings, revocations: list[Revocation], wrote: bool) -> None:
    """Publish, and say what happened on both paths."""
    error = publish_revocations(settings, revocations)
    if error is None:
        click.echo("published to the gateways (revocation topic)")
    elif wrote:
        click.echo(
            f"warning: not published on the revocation topic ({error}); the gateways' "
            "database sweep picks the revocation up within seconds",
            err=True,
        )
    else:
        click.echo(f"error: not published on the revocation topic either ({error})", err=True)
        sys.exit(2)


def _describe(record: TokenRecord) -> str:
    expires = record.expires_at.isoformat(timespec="minutes") if record.expires_at else "never"
    return (
        f"token {record.id} of principal {record.principal_id} ({record.name}; role "
        f"{record.role}, scope {record.scope or '-'}; expires {expires})"
    )


@click.group()
def token() -> None:
    """API tokens (stored hashed), each belonging to a principal."""


@token.command("create")
@click.option("--role", default=None, help="grid_worker, operator, department, system, ...")
@click.option("--name", default=None, help="the principal's display name")
@click.option("--scope", default=None, help="grid codes, a department, or a system's source URI")
@click.option("--principal", "principal_id", default=None, help="add a token to this principal")
@click.option(
    "--types",
    default=None,
    help="system: the CloudEvents types it may publish (comma-separated; 'all' for every one)",
)
@click.option("--cap-sender", "cap_senders", multiple=True, help="system: a CAP <sender> it owns")
@click.option("--expires-days", type=int, default=None, help="lifetime (people: 90 days default)")
def token_create(
    role: str | None,
    name: str | None,
    scope: str | None,
    principal_id: str | None,
    types: str | None,
    cap_senders: tuple[str, ...],
    expires_days: int | None,
) -> None:
    """Create a token; the plaintext is printed alone on the last line."""
    settings = Settings()
    bootstrap.migrate(settings)
    store = _store(settings)
    expires = timedelta(days=expires_days) if expires_days else None
    try:
        if principal_id is not None:
            plaintext, record = store.issue(principal_id, expires_in=expires)
        else:
            if not role or not name:
                raise click.UsageError("give --role and --name (or --principal ID)")
            event_types = _types(role, types)
            plaintext, record = store.create(
                role,
                name,
                scope,
                event_types=event_types,
                cap_senders=cap_senders,
                expires_in=expires,
            )
            _audit(settings, audit.PRINCIPAL_CREATE, record.principal_id, role=role, name=name)
    except (ValueError, UnknownPrincipal) as exc:
        raise click.ClickException(str(exc)) from exc
    _audit(settings, audit.TOKEN_CREATE, record.id, principal=record.principal_id)
    click.echo(_describe(record))
    click.echo(plaintext)


def _types(role: str, types: str | None) -> tuple[str, ...]:
    if role != "system":
        if types:
            raise click.UsageError("--types is for system tokens")
        return ()
    if not types:
        raise click.UsageError(
            "a system token needs --types: the CloudEvents types it may publish "
            f"(of {', '.join(INBOUND_TYPES)}; 'all' for every one)"
        )
    if types.strip() == "all":
        return INBOUND_TYPES
    chosen = tuple(t.strip() for t in types.split(",") if t.strip())
    unknown = [t for t in chosen if t not in INBOUND_TYPES]
    if unknown:
        raise click.UsageError(f"unknown event types: {', '.join(unknown)}")
    return chosen


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id, on every gateway within seconds."""
    settings = Settings()
    revocation = Revocation("token", token_id, datetime.now(UTC))
    try:
        ok = _store(settings).revoke(token_id)
    except Exception as exc:  # the database is away: the gateways still hear of it
        click.echo(f"the database could not be updated ({type(exc).__name__})", err=True)
        _revoke(settings, [revocation], wrote=False)
        click.echo("run the command again once the database is back", err=True)
        sys.exit(1)
    if not ok:
        click.echo("no such active token")
        sys.exit(1)
    _audit(settings, audit.TOKEN_REVOKE, token_id)
    click.echo("revoked")
    _revoke(settings, [revocation], wrote=True)


@token.command("rotate")
@click.argument("token_id")
def token_rotate(token_id: str) -> None:
    """A new token for the same principal; the old one is revoked. The new
    plaintext is printed alone on the last line."""
    settings = Settings()
    try:
        plaintext, record = _store(settings).rotate(token_id)
    except UnknownPrincipal as exc:
        raise click.ClickException(str(exc)) from exc
    _audit(settings, audit.TOKEN_ROTATE, token_id, new=record.id)
    _revoke(settings, [Revocation("token", token_id, datetime.now(UTC))], wrote=True)
    click.echo(_describe(record))
    click.echo(plaintext)


@token.command("list")
@click.option("--principal", "principal_id", default=None, help="only this principal's tokens")
def token_list(principal_id: str | None) -> None:
    """List tokens (never their plaintext)."""
    now = datetime.now(UTC)
    for rec in _store(Settings()).list(principal_id):
        if rec.revoked_at or rec.disabled_at:
            state = "revoked"
        elif rec.expired(now):
            state = "expired"
        else:
            state = "active"
        expires = rec.expires_at.date().isoformat() if rec.expires_at else "-"
        click.echo(
            f"{rec.id}\t{rec.principal_id}\t{rec.role}\t{rec.name}\t{rec.scope or '-'}\t"
            f"{state}\t{expires}"
        )


@click.group()
def principal() -> None:
    """Principals: who calls the API (a unique id, a display name, a role, a scope)."""


@principal.command("create")
@click.option("--role", required=True)
@click.option("--name", required=True)
@click.option("--scope", default=None)
@click.option("--types", default=None, help="system: CloudEvents types (comma-separated, or all)")
@click.option("--cap-sender", "cap_senders", multiple=True)
def principal_create(
    role: str, name: str, scope: str | None, types: str | None, cap_senders: tuple[str, ...]
) -> None:
    """Create a principal without a token (add one with token create --principal)."""
    settings = Settings()
    bootstrap.migrate(settings)
    try:
        created = _store(settings).create_principal(
            role, name, scope, event_types=_types(role, types), cap_senders=cap_senders
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _audit(settings, audit.PRINCIPAL_CREATE, created.id, role=role, name=name)
    click.echo(created.id)


@principal.command("disable")
@click.argument("principal_id")
def principal_disable(principal_id: str) -> None:
    """Disable a principal: every token of it stops working on every gateway."""
    settings = Settings()
    if not _store(settings).disable_principal(principal_id):
        click.echo("no such active principal")
        sys.exit(1)
    _audit(settings, audit.PRINCIPAL_DISABLE, principal_id)
    click.echo("disabled")
    _revoke(settings, [Revocation("principal", principal_id, datetime.now(UTC))], wrote=True)


@principal.command("list")
def principal_list() -> None:
    """List principals."""
    for p in _store(Settings()).principals():
        state = "disabled" if p.disabled_at else "active"
        types = ",".join(p.event_types) or "-"
        click.echo(f"{p.id}\t{p.role}\t{p.name}\t{p.scope or '-'}\t{state}\t{types}")
