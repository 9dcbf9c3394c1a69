"""The dashboard's pure modules (smoothing, decimation, JSON positions, error routing) run in Chromium.

They need no stack: web/ is served by a plain static file server and the modules are imported as-is.
"""

import functools
import re
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.stubhttp import serving

pytestmark = pytest.mark.browser

WEB = Path(__file__).resolve().parents[2] / "web"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    with serving(functools.partial(QuietHandler, directory=str(WEB))) as url:
        yield url


@pytest.fixture
def page(browser: Browser, static_url: str) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(f"{static_url}/js/")  # any page of that origin lets modules be imported
    yield opened
    context.close()


def run(page: Page, module: str, body: str) -> Any:
    return page.evaluate(f"async () => {{ const m = await import('/js/{module}'); {body} }}")


def test_smooth_debiased_ema_matches_hand_values(page: Page) -> None:
    # weight 0.5: 0.5/0.5 = 1; (0.25+1)/0.75 = 5/3; (0.625+1.5)/0.875 = 17/7; null passes through.
    out = run(page, "series.js", "return m.smoothInto([], [1, 2, null, 3], 0, 0.5, {last: 0, count: 0});")
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx(5 / 3)
    assert out[2] is None
    assert out[3] == pytest.approx(17 / 7)


def test_smooth_continues_incrementally_like_a_full_pass(page: Page) -> None:
    same = run(page, "series.js", """
      const s = new m.Series(1, 'loss', 1000);
      s.load({steps: [1, 2, 3], values: [4, 1, 3], times: [0, 1, 2], total_points: 3});
      s.smooth(0.6);
      s.append([{step: 4, value: 2, time: 3}, {step: 5, value: 7, time: 4}]);
      const live = s.smooth(0.6).slice();
      const full = m.smoothInto([], [4, 1, 3, 2, 7], 0, 0.6, {last: 0, count: 0});
      return live.every((v, i) => Math.abs(v - full[i]) < 1e-12) && live.length === 5;""")
    assert same is True


def test_series_append_skips_repeated_steps(page: Page) -> None:
    out = run(page, "series.js", """
      const s = new m.Series(1, 'loss', 1000);
      s.load({steps: [1, 2, 3], values: [1, 1, 1], times: [0, 0, 0], total_points: 3});
      const taken = s.append([{step: 2, value: 9, time: 0}, {step: 4, value: 0.5, time: 1}]);
      return [taken, s.steps, s.last];""")
    assert out == [1, [1, 2, 3, 4], {"step": 4, "value": 0.5}]


def test_decimate_keeps_spike_and_last_point(page: Page) -> None:
    out = run(page, "series.js", """
      const n = 10000, steps = [], values = [], times = [];
      for (let i = 0; i < n; i++) { steps.push(i + 1); values.push(i === 4321 ? 99 : 1); times.push(i); }
      const d = m.decimate(steps, values, times, 100);
      return [d.steps.length, d.values.includes(99), d.steps[d.steps.indexOf(4322)], d.steps.at(-1)];""")
    assert out[0] <= 300
    assert out[1] is True and out[2] == 4322
    assert out[3] == 10000


def test_locate_names_line_of_nested_loc(page: Page) -> None:
    out = run(page, "jsonpos.js", r"""
      const text = '{"layers": [\n  {"type": "Linear"},\n  {"type": "Linear",\n   "out_features": -3}\n]}';
      return [m.locate(text, ['layers', 1, 'out_features']).line, m.locate(text, ['layers', 0, 'bias']).line,
              m.locate('{oops', ['layers'])];""")
    assert out == [4, 2, None]


def test_field_of_routes_locs_to_form_fields(page: Page) -> None:
    out = run(page, "pages/formerrors.js", """
      return [m.fieldOf(['body', 'config', 'optimizer', 'lr']), m.fieldOf(['body', 'spec', 'layers', 3]),
              m.fieldOf(['body', 'dataset_id']), m.fieldOf(['body', 'model_id']), m.fieldOf(['body', 'name']),
              m.specPath(['body', 'spec', 'layers', 3, 'out_features'])];""")
    assert out == ["config", "spec", "dataset", "model", "form", ["layers", 3, "out_features"]]


def test_index_preloads_every_module() -> None:
    # Without a preload a module is fetched only after its importer ran: one round trip per level.
    index = (WEB / "index.html").read_text()
    modules = {f"/{p.relative_to(WEB).as_posix()}" for p in (WEB / "js").rglob("*.js")}
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', index))
    assert preloaded == modules - {"/js/main.js"}


def test_merge_job_keeps_known_total_and_step(page: Page) -> None:
    out = run(page, "format.js", """
      const job = (attempts, step, total) => ({id: 1, status: 'running', attempts,
                                              progress: {epoch: 0, step, total_steps: total}});
      const known = job(1, 40, 900), event = job(1, 0, null), retried = job(2, 5, null);
      return [m.mergeJob(known, event).progress, m.mergeJob(known, retried).progress,
              m.needsTotal(event), m.needsTotal(known), m.needsTotal({...event, status: 'queued'})];""")
    assert out == [{"epoch": 0, "step": 40, "total_steps": 900}, {"epoch": 0, "step": 5, "total_steps": 900},
                   True, False, False]


def test_tick_labels_keep_the_step_digits(page: Page) -> None:
    out = run(page, "charts.js", """
      const ticks = (lo, incr, n) => Array.from({length: n}, (_, i) => m.tick(lo + i * incr, incr));
      return [ticks(0, 2.5, 6), ticks(0.0015, 0.0015, 3), ticks(0.1, 0.1, 3), ticks(0, 20, 3),
              m.tick(1.25e-5, 2.5e-6), m.tick(12500000, 2500000)];""")
    assert out[0] == ["0", "2.5", "5.0", "7.5", "10.0", "12.5"]
    assert out[1] == ["0.0015", "0.0030", "0.0045"]
    assert out[2] == ["0.1", "0.2", "0.3"]  # 0.1 + 0.2 is 0.30000000000000004 in floats
    assert out[3] == ["0", "20", "40"]
    assert out[4:] == ["1.25e-5", "1.25e7"]


def test_log_tick_uses_exponent_for_small_values_and_axis_fits_it(page: Page) -> None:
    out = run(page, "charts.js", """
      const labels = [1e-6, 0.001, 0.5, 3, 2e7].map(m.logTick);
      return [labels, m.axisSize(null, ['1e-6']), m.axisSize(null, ['0.000001', '1e-6'])];""")
    assert out[0] == ["1e-6", "0.001", "0.5", "3", "2e7"]
    assert 30 <= out[1] < out[2], "the axis widens with its widest label"
