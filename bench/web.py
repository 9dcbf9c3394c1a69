"""Dashboard figures in Debian's Chromium against a real API (Postgres + Redis).

- live latency: a metric point written for a running job (write_points + commit + publish, as the
  worker's reporter does) -> that point drawn on the job page (the data-last-step attribute set in
  the animation frame that calls uPlot's setData); p50/p95 over --probes points;
- a burst of live points: the longest gap between animation frames while they arrive;
- page load + first draw of a job whose train_loss has --points points (navigation start -> the
  chart's first data-points attribute), and the downsampled series route alone.

Run from the repository root: `python -m bench.web`. Saves bench/results/web.json. No worker is
started: the bench claims its own jobs, so nothing else competes for the 2 cores.
"""

import argparse
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session

from tests.conftest import REDIS_URL, _create_pg_database, _drop_pg_database
from tests.stack import Stack, wait_until

RESULTS = Path(__file__).resolve().parent / "results" / "web.json"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SPEC = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 3}]}
# Records when each step of the probe series is first drawn, in the page's epoch milliseconds.
WATCH = """() => {
  window.__drawn = {};
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const r of records) {
      const s = r.target.dataset.lastStep;
      if (r.target.dataset.series === "probe" && !(s in window.__drawn)) window.__drawn[s] = now;
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-last-step"]});
}"""
# Installed before the page's own scripts: when each probe point arrives over the event stream, which
# splits the latency into the server's share and the dashboard's (parse, batch, setData, attributes).
RECEIVED = """
window.__received = {};
const Native = window.EventSource;
window.EventSource = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("metric", (ev) => {
      const now = performance.timeOrigin + performance.now();
      for (const p of JSON.parse(ev.data)) {
        if (p.name === "probe" && !(p.step in window.__received)) window.__received[p.step] = now;
      }
    });
  }
};"""
# Installed before the page's own scripts: milliseconds from navigation start to the first drawn point.
FIRST_DRAW = """
new MutationObserver((records, obs) => {
  for (const r of records) {
    if (r.target.dataset.series === "train_loss" && r.target.dataset.points !== "0") {
      window.__firstDraw = performance.now();
      obs.disconnect();
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-points"]});"""
FRAME_GAPS = """() => {
  window.__gap = 0;
  let last = performance.now();
  const tick = (t) => {
    window.__gap = Math.max(window.__gap, t - last);
    last = t;
    if (!window.__stopFrames) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def claimed_job(stack: Stack, session: Session, name: str) -> tuple[int, int]:
    """A job submitted through the API and claimed by the bench, as a worker would: (id, attempt)."""
    from server.store.jobs import claim

    dataset = stack.post("/datasets/builtin", json={"name": "iris"})["id"]
    model = stack.post("/models", json={"name": "bench", "spec": SPEC})["id"]
    job_id = stack.submit(int(model), int(dataset), {"epochs": 1}, name=name)
    attempt = claim(session, job_id, 3600)
    session.commit()
    if attempt is None:
        raise RuntimeError(f"could not claim job {job_id}")
    return job_id, attempt


def write(session: Session, job_id: int, attempt: int, points: list[tuple[str, int, float, float]]) -> None:
    from server.store.events import publish
    from server.store.metrics import write_points

    write_points(session, job_id, attempt, points)
    session.commit()
    publish(job_id)


def live_latency(page: Page, session: Session, job_id: int, attempt: int, probes: int) -> dict[str, Any]:
    page.evaluate(WATCH)
    latencies = []
    page_share = []
    for step in range(1, probes + 2):
        written = time.time()
        write(session, job_id, attempt, [("probe", step, float(step % 7), written)])
        drawn = wait_until(lambda: page.evaluate(f"window.__drawn[{step}]"), 30,  # noqa: B023 (called now)
                           f"probe step {step} drawn", every_s=0.002)
        if step > 1:  # the first one creates the chart
            latencies.append(drawn - written * 1000)
            page_share.append(drawn - page.evaluate(f"window.__received[{step}]"))
        time.sleep(0.05)  # probes apart, so each one measures a quiet path rather than a queue
    return {"probes": len(latencies), "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "max_ms": max(latencies),
            "received_to_drawn_p50_ms": percentile(page_share, 50),
            "received_to_drawn_p95_ms": percentile(page_share, 95)}


def idle_gap(page: Page, seconds: float) -> float:
    """The longest frame gap with nothing arriving: the baseline the burst's gap compares with."""
    page.evaluate(FRAME_GAPS)
    time.sleep(seconds)  # a fixed observation window, not synchronisation
    return float(page.evaluate("() => { window.__stopFrames = true; return window.__gap; }"))


def burst(page: Page, session: Session, job_id: int, attempt: int, batches: int, size: int) -> dict[str, Any]:
    baseline = idle_gap(page, 3)
    page.evaluate("() => { window.__stopFrames = false; }")
    page.evaluate(FRAME_GAPS)
    start = time.perf_counter()
    for b in range(batches):
        base = 10_000 + b * size
        now = time.time()
        write(session, job_id, attempt, [("burst", base + i, (i % 100) / 100, now) for i in range(size)])
    last = 10_000 + batches * size - 1
    sel = f'[data-series="burst"][data-last-step="{last}"]'
    wait_until(lambda: page.locator(sel).count() > 0, 60, "the burst's last point drawn", every_s=0.01)
    seconds = time.perf_counter() - start
    gap = page.evaluate("() => { window.__stopFrames = true; return window.__gap; }")
    drawn = page.locator('[data-series="burst"]').get_attribute("data-points")
    return {"points": batches * size, "batches": batches, "seconds_to_last_drawn": seconds,
            "longest_frame_gap_ms": gap, "idle_longest_frame_gap_ms": baseline,
            "points_drawn_at_end": int(drawn or 0)}


def million(browser: Browser, stack: Stack, session: Session, points: int, runs: int) -> dict[str, Any]:
    job_id, attempt = claimed_job(stack, session, "million")
    t0 = time.time() - points * 0.01
    for lo in range(1, points + 1, 100_000):
        batch = [("train_loss", s, 1 / (1 + s / 1000) + (s % 97) / 5000, t0 + s * 0.01)
                 for s in range(lo, min(points + 1, lo + 100_000))]
        write(session, job_id, attempt, batch)
    from server.store.jobs import finish

    finish(session, job_id, attempt, "succeeded")
    session.commit()
    route = []
    for _ in range(runs):
        start = time.perf_counter()
        stack.client.get(f"/jobs/{job_id}/metrics/train_loss", params={"max_points": 3840}).raise_for_status()
        route.append((time.perf_counter() - start) * 1000)
    first_draw = []
    drawn = 0
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        token = json.dumps(stack.admin_token)
        page.add_init_script(f"localStorage.setItem('torchyard.token', {token}); {FIRST_DRAW}")
        page.goto(f"{stack.url}/jobs/{job_id}")
        first_draw.append(wait_until(lambda: page.evaluate("window.__firstDraw"), 60,  # noqa: B023
                                     "first draw"))
        drawn = int(page.locator('[data-series="train_loss"]').get_attribute("data-points") or 0)
        context.close()
    return {"points": points, "points_drawn": drawn, "series_route_ms_median": statistics.median(route),
            "navigation_to_first_draw_ms": first_draw,
            "navigation_to_first_draw_ms_median": statistics.median(first_draw)}


def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from server.core.db import make_engine

    session = Session(make_engine(stack.env["TORCHYARD_DATABASE_URL"]))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        job_id, attempt = claimed_job(stack, session, "live")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(RECEIVED)
        page.goto(f"{stack.url}/jobs/{job_id}?token={stack.admin_token}")
        page.wait_for_selector("#charts", state="attached")
        results = {"live_latency": live_latency(page, session, job_id, attempt, args.probes),
                   "live_burst": burst(page, session, job_id, attempt, 50, 2000),
                   "million": million(browser, stack, session, args.points, args.runs)}
        browser.close()
    session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    name, url = _create_pg_database()
    broker = f"{REDIS_URL}/15"
    # The bench writes points itself; publish() must reach the API's Redis.
    os.environ.update(TORCHYARD_DATABASE_URL=url, TORCHYARD_BROKER_URL=broker)
    with TemporaryDirectory() as tmp:
        stack = Stack(database_url=url, broker_url=broker, data_dir=Path(tmp) / "data", workers=0,
                      queue=f"torchyard-bench-{uuid.uuid4().hex[:8]}", log_dir=Path(tmp) / "logs",
                      env={"TORCHYARD_LEASE_TIMEOUT_S": "3600"})
        try:
            stack.start()
            results = run(stack, args)
        finally:
            stack.stop()
            _drop_pg_database(name)
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
