"""Browser helpers for the studio: signed-in pages, axe-core checks, screenshots.

Journeys run with the studio's Content-Security-Policy enforced and fail on any CSP
violation in the console. The accessibility pass injects axe-core, which needs a context
that bypasses the CSP (an injected script is exactly what the policy forbids).
"""

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.accounts.models import Role
from app.delivery import tasks
from app.delivery.transports import transport_from_url
from app.deps import SESSION_COOKIE
from tests.conftest import make_user, make_user_token

STUDIO_TESTS = Path(__file__).resolve().parent
AXE_JS = STUDIO_TESTS / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = STUDIO_TESTS.parents[1] / "var" / "screenshots"
WIDTHS = (1280, 375)


@pytest.fixture
def axe_path() -> Path:
    if not AXE_JS.exists():
        pytest.skip("axe-core is not installed: npm ci --prefix tests/studio")
    return AXE_JS


@pytest.fixture
def studio_as(browser, live_server, engine) -> Iterator[Callable]:
    """studio_as(Role.editor) -> a page signed in as a new user of that role (CSP enforced,
    CSP violations and page errors collected in page.problems)."""
    contexts = []

    def open_as(role: Role, *, email: str | None = None, bypass_csp: bool = False):
        user_id = make_user(engine, email=email or f"{role.value}@example.com", role=role)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, bypass_csp=bypass_csp
        )
        contexts.append(context)
        context.add_cookies(
            [{"name": SESSION_COOKIE, "value": make_user_token(engine, user_id),
              "url": live_server}]
        )  # fmt: skip
        page = context.new_page()
        page.problems = []
        page.on(
            "console",
            lambda message: message.type == "error" and page.problems.append(message.text),
        )
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        return page

    yield open_as
    for context in contexts:
        context.close()


def csp_violations(page) -> list[str]:
    return [p for p in page.problems if "Content Security Policy" in p or "Refused to" in p]


def serious_violations(page, axe_path: Path) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(axe_path))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + json.dumps([n["target"] for n in v["nodes"][:3]])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page, name: str) -> None:
    """The page at desktop and phone width, into var/screenshots/NAME-WIDTH.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
def mail_into(live_server):
    """Point the live app's in-process sender at `url` for this test."""
    before = tasks._context
    assert before is not None, "the live server configures the in-app sender"

    def to(url: str) -> None:
        fast = dataclasses.replace(before.config, idle_poll_seconds=0.05)
        tasks.configure(dataclasses.replace(before, transport=transport_from_url(url), config=fast))

    yield to
    tasks.configure(before)
