"""A gateway served by uvicorn in a thread on 127.0.0.1 (for what TestClient
cannot do: an open SSE stream while the test acts), and a reader of its SSE."""

from __future__ import annotations

import asyncio
import threading

import httpx
import uvicorn

from gateway.app import create_app
from gateway.deps import GatewayDeps
from tests.fixtures.worker import free_port, wait_until


class Server:
    """The gateway app served by uvicorn in a thread, on a free port."""

    def __init__(self, deps: GatewayDeps) -> None:
        self.app = create_app(deps)
        self.port = free_port()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        wait_until(lambda: self.server.started, 10, "uvicorn to start", interval=0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class SSE:
    """Reads SSE messages off one streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next(self, count: int) -> list[dict[str, str]]:
        """The next ``count`` messages that carry data (comments and bare ids skipped)."""
        events: list[dict[str, str]] = []
        current: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if "data" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            current[name] = value.removeprefix(" ")
        raise AssertionError(f"stream ended after {len(events)} of {count} events: {events}")
