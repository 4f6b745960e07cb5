"""TokenStore: hashed at rest, verify, revoke, list, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from sinks.models import api_tokens
from sinks.tokens import ROLES, TokenStore


def test_create_and_verify(engine: Engine) -> None:
    store = TokenStore(engine, "s3cret")
    plaintext, record = store.create("department", "城管执法 handler", scope="chengguan")
    assert plaintext.startswith("gh_") and len(plaintext) > 40
    assert (record.role, record.scope, record.revoked_at) == ("department", "chengguan", None)
    verified = store.verify(plaintext)
    assert verified is not None and verified == record
    assert verified.created_at.tzinfo is not None
    assert store.verify(plaintext + "x") is None
    assert store.verify("not-a-token") is None
    assert store.verify("") is None


def test_only_the_hmac_is_stored(engine: Engine) -> None:
    store = TokenStore(engine, "s3cret")
    plaintext, record = store.create("operator", "desk 1")
    with engine.connect() as conn:
        rows = conn.execute(select(api_tokens)).mappings().all()
    assert len(rows) == 1
    stored = rows[0]
    assert plaintext not in {str(v) for v in stored.values()}
    assert stored["token_hash"] == store.hash_token(plaintext)
    assert len(stored["token_hash"]) == 64
    # Another secret cannot verify it.
    assert TokenStore(engine, "other").verify(plaintext) is None


def test_revoke(engine: Engine) -> None:
    store = TokenStore(engine, "s3cret")
    plaintext, record = store.create("grid_worker", "zhang", scope="110105001001001")
    other, _ = store.create("leader", "duty office")
    assert store.revoke(record.id) is True
    assert store.revoke(record.id) is False
    assert store.revoke("unknown") is False
    assert store.verify(plaintext) is None
    assert store.verify(other) is not None
    listed = store.list()
    assert [t.name for t in listed] == ["zhang", "duty office"]
    assert listed[0].revoked_at is not None and not listed[0].active
    assert listed[1].active


def test_roles(engine: Engine) -> None:
    store = TokenStore(engine, "s3cret")
    assert {
        "grid_worker",
        "operator",
        "department",
        "system",
        "leader",
        "admin",
        "open311",
    } == ROLES
    for role in sorted(ROLES):
        plaintext, _ = store.create(role, f"t-{role}")
        assert store.verify(plaintext).role == role  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown role"):
        store.create("root", "nope")
    with pytest.raises(ValueError):
        TokenStore(engine, "")
