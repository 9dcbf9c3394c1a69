"""Browser fixtures: Debian's Chromium driven by Playwright against a real stack (API + worker)."""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.stack import FINISHED, Stack, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Failed requests the tests provoke on purpose (422 on a bad spec, 409 ...) are not page errors.
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")

MLP_SPEC = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 10}]}

@dataclass
class Member:
    """A user of the stack, with an HTTP client carrying their token (tests check the page against it)."""

    name: str
    token: str
    http: httpx.Client

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body)
        if response.status_code >= 300:
            raise AssertionError(f"POST {path} -> {response.status_code}: {response.text}")
        return response.json()

    def submit(self, config: dict[str, Any], name: str = "web-test") -> int:
        dataset = self.post("/datasets/builtin", {"name": "digits"})
        model = self.post("/models", {"name": "mlp", "spec": MLP_SPEC})
        job = self.post("/jobs", {"model_id": model["id"], "dataset_id": dataset["id"], "config": config,
                                  "name": name})
        return int(job["id"])

    def wait_job(self, job_id: int, statuses: frozenset[str] = FINISHED, timeout_s: float = 240) -> Any:
        def reached() -> Any:
            job = self.get(f"/jobs/{job_id}")
            return job if job["status"] in statuses else None

        return wait_until(reached, timeout_s, f"job {job_id} to reach {sorted(statuses)}")

    def series(self, job_id: int, name: str) -> Any:
        return self.get(f"/jobs/{job_id}/metrics/{name}", max_points=1_000_000)


@dataclass
class Tab:
    """One browser page on the stack's dashboard, recording console errors and uncaught exceptions."""

    page: Page
    base_url: str
    shots: Path
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def series(self, name: str, job_id: int) -> Locator:
        return self.page.locator(f'[data-series="{name}"][data-job="{job_id}"]')

    def attr(self, name: str, job_id: int, key: str) -> str | None:
        return self.series(name, job_id).get_attribute(f"data-{key}")

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot; a blank or broken page would come out tiny."""
        path = self.shots / f"browser-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, f"screenshot {path} is suspiciously small"
        return path

    def assert_clean(self) -> None:
        assert self.errors == [], f"the page logged errors: {self.errors}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed at /usr/bin/chromium: apt-get install -y chromium")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def member(stack: Stack) -> Iterator[Member]:
    name = f"web-{uuid.uuid4().hex[:8]}"
    token = stack.post("/users", json={"name": name, "admin": False})["token"]
    http = httpx.Client(base_url=f"{stack.url}/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    yield Member(name=name, token=token, http=http)
    http.close()


@pytest.fixture
def tab(browser: Browser, stack: Stack, artifacts_dir: Path) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(30_000)
    opened = Tab(page=page, base_url=stack.url, shots=artifacts_dir)

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not EXPECTED_CONSOLE.search(msg.text):
            opened.errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: opened.errors.append(f"uncaught: {exc}"))
    yield opened
    context.close()


@pytest.fixture
def signed_in(tab: Tab, member: Member) -> Tab:
    """A tab whose browser holds the member's token (signed in through ?token=)."""
    tab.open(f"/?token={member.token}")
    tab.page.wait_for_selector("#jobs-table")
    return tab


@pytest.fixture(scope="module")
def finished_job(member: Member) -> int:
    """One short job that succeeded, shared by the tests of a module that only read it."""
    job_id = member.submit({"epochs": 1, "batch_size": 64, "seed": 1}, name="finished-run")
    job = member.wait_job(job_id)
    assert job["status"] == "succeeded", job["error"]
    return job_id


@pytest.fixture
def long_job(member: Member) -> Iterator[int]:
    """A job that would train for many minutes; cancelled at teardown so it never holds the worker."""
    job_id = member.submit({"epochs": 500, "batch_size": 8}, name="long-run")
    yield job_id
    member.http.post(f"/jobs/{job_id}/cancel")  # 409 when the test already ended it


@pytest.fixture
def busy_worker(member: Member) -> Iterator[int]:
    """A long job holding the stack's only worker, so a job submitted meanwhile stays queued until this
    one is cancelled (the test does that when it wants the next job to start)."""
    job_id = member.submit({"epochs": 500, "batch_size": 8}, name="blocker")
    member.wait_job(job_id, frozenset({"running"}), timeout_s=120)
    yield job_id
    member.http.post(f"/jobs/{job_id}/cancel")  # 409 when the test already ended it
