"""The pages people use: ``/m/`` (grid worker's phone), ``/console/``
(operator live queue), ``/d/`` (a department's phone: its tasks), ``/reports/``
(leaders) and ``/public/`` (anyone), as static HTML with small plain ES modules
under ``gateway/static/`` — no build step, no template engine.

The pages hold no data: they sign in with a bearer token kept in the browser and
call the same ``/api/v1`` endpoints as every other client, so role and scope checks
stay server-side. A strict Content-Security-Policy (same-origin scripts only, no
inline script) backs up the rule that pages put data into the DOM as text only."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from gateway.auth import PUBLIC_READ

STATIC_DIR = Path(__file__).parents[1] / "static"
STATIC_PATH = "/static"
PAGES = {
    "m": "m.html",
    "console": "console.html",
    "d": "d.html",
    "reports": "reports.html",
    "public": "public.html",
}
# Pages for anyone, counted per client address like the reads behind them; the
# others are shells that sign in with a token for every figure they show.
ANONYMOUS_PAGES = frozenset({"public"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _page(name: str, filename: str) -> None:
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / filename, media_type="text/html", headers=PAGE_HEADERS)

    async def redirect() -> RedirectResponse:
        return RedirectResponse(f"/{name}/", status_code=308)

    router.add_api_route(
        f"/{name}/",
        page,
        methods=["GET"],
        name=f"page_{name}",
        dependencies=PUBLIC_READ if name in ANONYMOUS_PAGES else None,
    )
    router.add_api_route(f"/{name}", redirect, methods=["GET"], name=f"page_{name}_redirect")


for _name, _filename in PAGES.items():
    _page(_name, _filename)


def static_files() -> StaticFiles:
    """The pages' assets (JS, CSS), mounted at :data:`STATIC_PATH`."""
    return StaticFiles(directory=STATIC_DIR)
