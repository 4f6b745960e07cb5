"""Browser fixtures: a real uvicorn server running the gateway app (SQLite, real
tokens, the demo district, an in-memory publisher in place of Kafka, an in-memory
case feed a test drives with :meth:`LiveGateway.happen`, a real media store) on a
free port, and Debian's headless Chromium driven by Playwright.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (apt-get install
chromium fonts-noto-cjk; deploy/install-system-deps.sh does it). The full loop on
the real broker is test_journey.py: it spawns ``gridhub worker``
and ``gridhub gateway`` and reuses the browser fixtures here."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas.cases import CaseEvent
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import BriefQueries, CaseQueries
from sinks.stats import CaseStats
from sinks.tokens import TokenStore
from sinks.writer import CaseProjectionWriter
from streams.codecs import case_event_cloudevent
from tests.fixtures.worker import HubEnv, HubProcess, free_port, wait_http
from tests.support.pages import SECRET, STEP_MS, Hub

CHROMIUM = os.environ.get("GRIDHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

from playwright import sync_api  # noqa: E402 - pinned dev dependency

if not Path(CHROMIUM).exists():  # machine set-up: fail loudly, never skip
    raise RuntimeError(f"{CHROMIUM} missing: run deploy/install-system-deps.sh")


class LoopServer(uvicorn.Server):
    """A uvicorn server that remembers its event loop, so a test can hand the
    in-memory case feed its events on that loop (the feed is not thread-safe)."""

    loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


@dataclass
class LiveGateway:
    base: str
    tokens: TokenStore
    publisher: InMemoryPublisher
    engine: Engine
    feed: CaseFeed
    server: LoopServer

    def token(self, role: str, scope: str | None = None, name: str | None = None) -> str:
        plaintext, _ = self.tokens.create(role, name or f"browser-{role}", scope=scope)
        return plaintext

    def happen(self, events: list[CaseEvent]) -> None:
        """What the worker would do: project the events into the database, then
        publish them on the live feed (in that order, as the real hub mostly does)."""
        CaseProjectionWriter(self.engine).write(events)
        assert self.server.loop is not None
        for event in events:
            raw = orjson.dumps(case_event_cloudevent(event))
            self.server.loop.call_soon_threadsafe(self.feed.ingest, raw)


@pytest.fixture
def live_gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    engine = make_engine(url)
    tokens = TokenStore(engine, secret="browser-test-secret")
    publisher = InMemoryPublisher()
    feed = CaseFeed()  # in memory: fed by LiveGateway.happen
    deps = GatewayDeps(
        queries=CaseQueries(engine),
        tokens=tokens,
        district=District.load(),
        publisher=publisher,
        topics=TopicNames.with_prefix("browser."),
        media=MediaStore(tmp_path / "media"),
        case_feed=feed,
        stats=CaseStats(engine),
        briefs=BriefQueries(engine),
    )
    port = free_port()
    config = uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_level="warning")
    server = LoopServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.1)
    try:
        yield LiveGateway(base, tokens, publisher, engine, feed, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


# Package scope, not session: Playwright's sync API keeps an event loop running
# in this thread while it is open, and later tests call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page; console errors fail the test."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=1
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    context.close()


class Screenshots:
    """``screenshot(page, name)`` saves a full-page PNG into :attr:`directory`
    (``test-artifacts/`` at the repository root, ignored by git)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, page: Any, name: str) -> Path:
        self.directory.mkdir(exist_ok=True)
        path = self.directory / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshot() -> Screenshots:
    return Screenshots(ARTIFACTS)


# -- a real hub: worker and gateway processes on the real broker (the journeys) -----


@pytest.fixture
def hub(hub_env: Any, running: list[HubProcess], tmp_path: Path) -> Iterator[Hub]:
    db_url = f"sqlite:///{tmp_path / 'journey.db'}"
    upgrade(db_url)
    env: HubEnv = hub_env(db_url)
    extra = {
        "GRIDHUB_TOKEN_SECRET": SECRET,
        "GRIDHUB_SSE_HEARTBEAT": "1",
        "GRIDHUB_GATEWAY_SHUTDOWN_GRACE": "1",
    }
    running.append(env.spawn("worker", **extra))
    running.append(env.spawn("gateway", **extra))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=90)
    engine = make_engine(db_url)
    try:
        yield Hub(base, TokenStore(engine, secret=SECRET), db_url)
    finally:
        engine.dispose()


@pytest.fixture
def new_page(hub: Hub, browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(width, height, **context_options)``: a page in a fresh browser
    context (its own storage). Every context is closed before the hub stops, so no
    live stream is left hanging on the gateway's shutdown."""
    contexts: list[Any] = []

    def make(width: int, height: int, **options: Any) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", **options
        )
        contexts.append(context)
        context.set_default_timeout(STEP_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        return page

    yield make
    for context in contexts:
        context.close()
