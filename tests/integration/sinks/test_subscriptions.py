"""Webhook subscriptions in the database (SQLite and PostgreSQL): the admin's store,
the worker's periodically reloaded view, and the lookup order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine

from sinks.secretbox import SecretBox
from sinks.subscriptions import (
    DbSubscriptions,
    DuplicateSubscription,
    SubscriptionStore,
    url_for,
)

BOX = SecretBox("integration-key-of-thirty-two-chars")


def test_store_crud(engine: Engine) -> None:
    store = SubscriptionStore(engine, BOX)
    one = store.create("department:shizheng", "https://a.example/hook", created_by="admin")
    two = store.create(
        "system:*", "http://b.example/hook", created_by="admin", active=False, description="off"
    )
    assert [r.id for r in store.list()] == [one.id, two.id]
    assert one.secret and one.secret.startswith("whsec_")  # shown once...
    assert store.get(one.id) == replace(one, secret=None)  # ...and never read back
    assert store.get("nope") is None
    assert store.active() == {"department:shizheng": "https://a.example/hook"}
    with pytest.raises(DuplicateSubscription):
        store.create("department:shizheng", "https://c.example/", created_by="admin")
    assert store.delete(one.id) is True
    assert store.delete(one.id) is False
    assert [r.recipient for r in store.list()] == ["system:*"]
    assert store.list(active_only=True) == []


@pytest.mark.parametrize(
    ("recipient", "url"),
    [
        ("department shizheng", "https://a.example/"),
        ("", "https://a.example/"),
        ("duty_office", "ftp://a.example/"),
        ("duty_office", "https://" + "a" * 3000),
    ],
)
def test_store_refuses_bad_input(engine: Engine, recipient: str, url: str) -> None:
    with pytest.raises(ValueError):
        SubscriptionStore(engine, BOX).create(recipient, url, created_by="admin")


def test_lookup_order() -> None:
    settings = {"department:*": "https://settings/all", "duty_office": "https://settings/duty"}
    database = {"department:shizheng": "https://db/shizheng", "reporter:*": "https://db/rep"}
    assert url_for("department:shizheng", settings, database) == "https://db/shizheng"
    assert url_for("department:zhujian", settings, database) == "https://settings/all"
    assert url_for("duty_office", settings, database) == "https://settings/duty"
    assert url_for("reporter:r-1", settings, database) == "https://db/rep"
    assert url_for("system:x", settings, database) is None


def test_db_view_reloads_on_its_period_and_survives_outages(engine: Engine) -> None:
    now = [0.0]
    view = DbSubscriptions(engine, box=BOX, reload_seconds=10, clock=lambda: now[0])
    store = SubscriptionStore(engine, BOX)
    assert view.url_for("duty_office") is None
    store.create("duty_office", "https://duty.example/", created_by="admin")
    assert view.url_for("duty_office") is None  # still the copy read at t=0
    now[0] = 10
    assert view.url_for("duty_office") == "https://duty.example/"

    view.store.active = _failing  # type: ignore[method-assign]
    now[0] = 25
    assert view.url_for("duty_office") == "https://duty.example/"  # the last good copy


def _failing() -> dict[str, str]:
    raise ConnectionError("database down")
