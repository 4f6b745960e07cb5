"""Browser fixtures: a real uvicorn server running the gateway app (SQLite, real
tokens, the demo district, an in-memory publisher in place of Kafka, a real media
store) on a free port, and Debian's headless Chromium driven by Playwright.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (apt-get install
chromium fonts-noto-cjk; deploy/install-system-deps.sh does it). The full loop on
the real broker (issue 5's proof) belongs in a test that spawns ``gridhub worker``
and ``gridhub gateway`` as tests/e2e/test_operations.py does, reusing these
browser fixtures."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from sinks.stats import CaseStats
from sinks.tokens import TokenStore
from tests.fixtures.worker import free_port

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


@dataclass
class LiveGateway:
    base: str
    tokens: TokenStore
    publisher: InMemoryPublisher

    def token(self, role: str, scope: str | None = None, name: str | None = None) -> str:
        plaintext, _ = self.tokens.create(role, name or f"browser-{role}", scope=scope)
        return plaintext


@pytest.fixture
def live_gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    engine = make_engine(url)
    tokens = TokenStore(engine, secret="browser-test-secret")
    publisher = InMemoryPublisher()
    deps = GatewayDeps(
        queries=CaseQueries(engine),
        tokens=tokens,
        district=District.load(),
        publisher=publisher,
        topics=TopicNames.with_prefix("browser."),
        media=MediaStore(tmp_path / "media"),
        case_feed=CaseFeed(),  # in memory: the live stream works, nothing feeds it yet
        stats=CaseStats(engine),
    )
    port = free_port()
    config = uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
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
        yield LiveGateway(base, tokens, publisher)
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


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
