"""The pages as the gateway serves them: HTML with a strict
Content-Security-Policy, redirects to the canonical paths, static modules, and
no way in the scripts to put data into the DOM as markup."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from gateway.routes.pages import PAGES, STATIC_DIR

# Every DOM sink that parses markup or code; the pages use textContent only.
MARKUP_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\("
)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_is_served_with_a_strict_policy(client: TestClient, name: str) -> None:
    page = client.get(f"/{name}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="zh-CN">' in page.text
    assert f'<script type="module" src="/static/{name}.js"></script>' in page.text
    assert "<script>" not in page.text  # no inline script for the policy to allow

    moved = client.get(f"/{name}", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == f"/{name}/"

    module = client.get(f"/static/{name}.js")
    assert module.status_code == 200
    assert "javascript" in module.headers["content-type"]


def test_static_files_do_not_leak_outside_their_folder(client: TestClient) -> None:
    assert client.get("/static/../pages.py").status_code == 404
    assert client.get("/static/%2e%2e/pages.py").status_code == 404


def test_scripts_never_parse_data_as_markup() -> None:
    scripts = sorted(STATIC_DIR.glob("*.js"))
    assert {p.name for p in scripts} >= {
        "common.js",
        "m.js",
        "console.js",
        "reports.js",
        "d.js",
        "actions.js",
    }
    for script in scripts:
        code = "\n".join(
            line
            for line in script.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("//")
        )
        assert not MARKUP_SINKS.search(code), script.name
