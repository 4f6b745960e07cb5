"""Helpers for the browser tests on a real hub (worker and gateway processes):
the hub as the tests see it, and signing in to a page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from sinks.tokens import TokenStore

SECRET = "browser-journey-secret"
# The pipeline runs on a loaded 2-core box: generous, but bounded.
STEP_MS = 45_000


@dataclass
class Hub:
    base: str
    tokens: TokenStore
    db_url: str

    def token(self, role: str, scope: str | None, name: str) -> str:
        plaintext, _ = self.tokens.create(role, name, scope=scope)
        return plaintext

    def api(self, token: str, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, token: str, path: str, body: Any) -> Any:
        response = httpx.post(
            f"{self.base}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        )
        assert response.status_code in (200, 202), response.text
        return response.json()


def sign_in(page: Any, url: str, token: str) -> None:
    page.goto(url)
    page.get_by_label("访问令牌").fill(token)
    page.get_by_role("button", name="登录").click()
