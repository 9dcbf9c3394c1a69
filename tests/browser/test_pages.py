"""Every page: no console error at all (not even the favicon's 404), and usable on a 420 px screen."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Member
from tests.stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Where each page is ready: the selector its content shows once loaded ({job} is the finished job).
PAGES = {
    "/": '#jobs-table tr[data-job-id="{job}"]',
    "/jobs/{job}": '#job-model table.summary',
    "/compare?jobs={job}": '[data-series="train_loss"][data-job="{job}"]',
    "/new": "#submit-job",
}

# The layout on a narrow screen: what sticks out of the page, of the top bar, or of a chart's card.
LAYOUT = """() => {
  const doc = document.documentElement;
  const out = (el, box) => { const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    return r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.bottom > b.bottom + 0.5; };
  const bar = document.querySelector('.topbar');
  const shown = [...bar.children].filter((e) => e.getClientRects().length);
  return {
    scroll: doc.scrollWidth, width: doc.clientWidth,
    bar: shown.filter((e) => out(e, bar)).map((e) => e.id || e.className || e.tagName),
    charts: [...document.querySelectorAll('figure.chart')]
      .filter((f) => !f.querySelector('.uplot') || out(f.querySelector('.uplot'), f.closest('.card')))
      .map((f) => f.dataset.metric),
  };
}"""


@dataclass
class Recorded:
    """A page with every console error and uncaught exception it logged, expected or not."""

    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def recorded(browser: Browser) -> Iterator[Recorded]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = Recorded(page=context.new_page())
    opened.page.set_default_timeout(30_000)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            opened.errors.append(f"{msg.text} @ {msg.location.get('url')}")

    opened.page.on("console", on_console)
    opened.page.on("pageerror", lambda exc: opened.errors.append(f"uncaught: {exc}"))
    yield opened
    context.close()


def _visit_every_page(rec: Recorded, stack: Stack, member: Member, job_id: int) -> Iterator[str]:
    """Sign in through a link, then load each page in full; yields each path once its content shows."""
    rec.page.goto(f"{stack.url}/?token={member.token}")
    rec.page.wait_for_function("name => document.querySelector('#whoami').textContent === name",
                               arg=member.name)
    for path, ready in PAGES.items():
        url = path.format(job=job_id)
        rec.page.goto(stack.url + url)
        rec.page.wait_for_selector(ready.format(job=job_id))
        yield url


def test_open_every_page_logs_no_console_error(recorded: Recorded, stack: Stack, member: Member,
                                               finished_job: int) -> None:
    recorded.page.goto(stack.url + "/")
    recorded.page.wait_for_selector("#signin-form")
    visited = list(_visit_every_page(recorded, stack, member, finished_job))
    # The browser asks for an icon once a page has loaded; with none declared that is a logged 404.
    recorded.page.goto(stack.url + "/")
    recorded.page.wait_for_selector(f'#jobs-table tr[data-job-id="{finished_job}"]')
    assert len(visited) == len(PAGES)
    assert recorded.errors == []


def test_narrow_screen_has_no_sideways_scroll(recorded: Recorded, stack: Stack, member: Member,
                                              finished_job: int, artifacts_dir: Path) -> None:
    page = recorded.page
    page.set_viewport_size({"width": 420, "height": 800})
    for url in _visit_every_page(recorded, stack, member, finished_job):
        if page.locator("figure.chart").count():
            page.wait_for_function("[...document.querySelectorAll('figure.chart')].every("
                                   "(f) => f.querySelector('.uplot'))")
        layout = page.evaluate(LAYOUT)
        assert layout["scroll"] <= layout["width"], f"{url} scrolls sideways: {layout}"
        assert layout["bar"] == [], f"{url}: these stick out of the top bar: {layout['bar']}"
        assert layout["charts"] == [], f"{url}: these charts stick out of their card: {layout['charts']}"
        name = url.split("?")[0].strip("/").replace("/", "-") or "jobs"
        page.screenshot(path=str(artifacts_dir / f"browser-narrow-{name}.png"), full_page=True)
    assert recorded.errors == []
