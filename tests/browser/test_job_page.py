"""The live job page: cancel from the page; a job opened before it starts; the panels of a finished job."""

import csv
import re
import tarfile
from pathlib import Path

import pytest

from tests.browser.conftest import Member, Tab
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Each chart's legend swatch colour against the colour most of its canvas' coloured pixels have, as hues.
# Canvas pixels keep the stroke's own colour (antialiasing only lowers alpha), so grey grid and text drop out.
SWATCH_AND_LINE_HUES = """() => {
  const hue = ([r, g, b]) => {
    const mx = Math.max(r, g, b), c = mx - Math.min(r, g, b);
    return 60 * (mx === r ? ((g - b) / c + 6) % 6 : mx === g ? (b - r) / c + 2 : (r - g) / c + 4);
  };
  return [...document.querySelectorAll('figure.chart')].map((fig) => {
    const swatch = getComputedStyle(fig.querySelector('.swatch')).backgroundColor.match(/\\d+/g).map(Number);
    const canvas = fig.querySelector('canvas');
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const bins = new Array(36).fill(0);
    for (let i = 0; i < px.length; i += 4) {
      const rgb = [px[i], px[i + 1], px[i + 2]];
      const coloured = px[i + 3] > 40 && Math.max(...rgb) - Math.min(...rgb) > 40;
      if (coloured) bins[Math.floor(hue(rgb) / 10) % 36] += 1;
    }
    const top = bins.indexOf(Math.max(...bins));
    return {metric: fig.dataset.metric, points: Number(fig.querySelector('.series-tag').dataset.points),
            swatch: hue(swatch), line: top * 10 + 5, pixels: bins[top]};
  });
}"""


def _colour_mismatches(tab: Tab) -> list[dict[str, float]]:
    """The drawn charts whose line hue is not their swatch's (within a 10-degree bin and some slack)."""
    charts = [c for c in tab.page.evaluate(SWATCH_AND_LINE_HUES) if c["points"] >= 2]
    off = [c for c in charts if c["pixels"] < 20 or min(abs(c["swatch"] - c["line"]),
                                                         360 - abs(c["swatch"] - c["line"])) > 12]
    return off if len(charts) >= 3 else [{"too few charts": len(charts)}]


def test_job_opened_before_start_shows_total_and_legend_matches_lines(signed_in: Tab, member: Member,
                                                                      busy_worker: int) -> None:
    tab = signed_in
    job_id = member.submit({"epochs": 500, "batch_size": 8, "val_fraction": 0.2}, name="starts-later")
    try:
        assert member.get(f"/jobs/{job_id}")["status"] == "queued"
        tab.open(f"/jobs/{job_id}")
        tab.page.wait_for_selector('.job-header [data-status="queued"]')
        tab.page.wait_for_selector("#no-metrics:has-text('No metrics yet')")
        assert tab.page.is_disabled("#download-csv")

        assert member.http.post(f"/jobs/{busy_worker}/cancel").status_code == 202
        cell = tab.page.locator(".job-header .progress-cell")
        shown = wait_until(lambda: re.fullmatch(r"(\d+)/(\d+)", (cell.text_content() or "").strip()), 120,
                           f"the header to show the total steps of job {job_id}", every_s=0.3)
        job = member.get(f"/jobs/{job_id}")
        assert job["status"] == "running"
        assert int(shown[2]) == job["progress"]["total_steps"]
        # the total can show before the first metric is drawn: both come from the same first events
        page = tab.page
        wait_until(lambda: not page.is_visible("#no-metrics") and not page.is_disabled("#download-csv"),
                   60, "the first metric to replace the no-metrics note", every_s=0.3)

        # The per-epoch series arrive live one after another; each keeps one colour in legend and line.
        wait_until(lambda: int(tab.attr("val_loss", job_id, "points") or 0) >= 2, 180,
                   "two epochs of val_loss")
        try:
            wait_until(lambda: not _colour_mismatches(tab), 10, "every legend swatch to match its line")
        except TimeoutError as err:
            raise AssertionError(f"swatch and line colours differ: {_colour_mismatches(tab)}") from err
        tab.shot("job-started-after-opening")
        tab.assert_clean()
    finally:
        member.http.post(f"/jobs/{job_id}/cancel")


def test_job_cancelled_while_queued_says_it_has_no_metrics(signed_in: Tab, member: Member,
                                                           busy_worker: int) -> None:
    tab = signed_in
    job_id = member.submit({"epochs": 1}, name="never-ran")
    assert member.http.post(f"/jobs/{job_id}/cancel").status_code == 202
    assert member.get(f"/jobs/{job_id}")["status"] == "cancelled"
    tab.open(f"/jobs/{job_id}")
    tab.page.wait_for_selector('.job-header [data-status="cancelled"]')
    tab.page.wait_for_selector("#no-metrics:has-text('recorded no metrics')")
    assert tab.page.is_disabled("#download-csv") and tab.page.is_disabled("#download-json")
    tab.shot("job-no-metrics")
    tab.assert_clean()


def test_cancel_from_page_ends_job_cancelled(signed_in: Tab, member: Member, long_job: int) -> None:
    tab = signed_in
    job_id = long_job
    tab.open(f"/jobs/{job_id}")
    wait_until(lambda: int(tab.attr("train_loss", job_id, "points") or 0) > 0 if
               tab.series("train_loss", job_id).count() else False, 120, "the first train_loss points")
    tab.page.click("#cancel-job")
    tab.page.wait_for_selector("#cancel-status [role=status]")

    tab.page.wait_for_selector('.job-header [data-status="cancelled"]', timeout=60_000)
    job = member.get(f"/jobs/{job_id}")
    assert job["status"] == "cancelled"
    assert tab.page.is_disabled("#cancel-job")
    assert tab.page.text_content("#cancel-status") == "", "the 'cancel requested' notice is stale now"
    # A cancelled job keeps a checkpoint at its last step, and the page lists it.
    last = member.get(f"/jobs/{job_id}/checkpoints")["data"]
    assert last, "a cancelled job keeps its checkpoints"
    newest = max(c["step"] for c in last)
    tab.page.wait_for_selector(f'#job-checkpoints tr[data-step="{newest}"]')
    tab.shot("job-cancelled")
    tab.assert_clean()


def test_finished_job_shows_model_graph_config_and_log(signed_in: Tab, member: Member,
                                                       finished_job: int) -> None:
    tab = signed_in
    job_id = finished_job
    tab.open(f"/jobs/{job_id}")
    model = member.get(f"/jobs/{job_id}/model")
    tab.page.wait_for_selector("#job-model table.summary")
    rows = tab.page.locator("#job-model table.summary tbody tr")
    assert rows.count() == len(model["summary"])
    assert tab.page.locator("#job-model svg.graph g.node").count() == len(model["graph"]["nodes"])
    assert '"batch_size": 64' in (tab.page.text_content("#job-config pre") or "")
    logs = member.http.get(f"/jobs/{job_id}/logs").text.strip().splitlines()
    assert logs and logs[-1].startswith("epoch "), logs  # the engine logs every epoch
    tab.page.wait_for_function("line => document.querySelector('#job-log').textContent.includes(line)",
                               arg=logs[-1])
    # Validation metrics get a chart of their own.
    tab.page.wait_for_selector(f'[data-series="val_loss"][data-job="{job_id}"]')
    tab.shot("job-panels")
    tab.assert_clean()


def test_download_series_csv_and_tensorboard_archive(signed_in: Tab, member: Member, finished_job: int,
                                                     tmp_path: Path) -> None:
    tab = signed_in
    job_id = finished_job
    tab.open(f"/jobs/{job_id}")
    tab.series("train_loss", job_id).wait_for()
    tab.page.select_option("#series-pick", "train_loss")
    with tab.page.expect_download() as csv_download:
        tab.page.click("#download-csv")
    saved = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(saved)
    rows = list(csv.DictReader(saved.open()))
    truth = member.series(job_id, "train_loss")
    assert [int(r["step"]) for r in rows] == truth["steps"]
    assert [float(r["value"]) for r in rows] == truth["values"]

    with tab.page.expect_download() as tb_download:
        tab.page.click("#download-tensorboard")
    archive = tmp_path / "tb.tar.gz"
    tb_download.value.save_as(archive)
    assert tb_download.value.suggested_filename == f"job-{job_id}-tensorboard.tar.gz"
    with tarfile.open(archive) as tar:
        assert any("tfevents" in name for name in tar.getnames())

    step = member.get(f"/jobs/{job_id}/checkpoints")["data"][0]["step"]
    with tab.page.expect_download() as weights:
        tab.page.locator(f'#job-checkpoints tr[data-step="{step}"] button', has_text=".safetensors").click()
    saved_weights = tmp_path / "weights.safetensors"
    weights.value.save_as(saved_weights)
    expected = member.http.get(f"/jobs/{job_id}/checkpoints/{step}", params={"format": "safetensors"})
    assert saved_weights.read_bytes() == expected.content
    tab.assert_clean()


def test_failed_job_shows_its_error(signed_in: Tab, member: Member) -> None:
    tab = signed_in
    # A learning rate this large drives the loss to inf/NaN within a few steps.
    job_id = member.submit({"epochs": 1, "batch_size": 64, "optimizer": {"type": "SGD", "lr": 1e30}},
                           name="diverges")
    job = member.wait_job(job_id)
    assert job["status"] == "failed" and job["error"]
    tab.open(f"/jobs/{job_id}")
    tab.page.wait_for_selector('.job-header [data-status="failed"]')
    assert tab.page.text_content("#job-error .error-text") == job["error"]
    assert tab.page.is_disabled("#cancel-job")
    tab.page.wait_for_selector("#job-model table.summary")
    tab.shot("job-failed")
    tab.assert_clean()


def test_chart_hover_zoom_reset_and_smoothing(signed_in: Tab, finished_job: int) -> None:
    tab = signed_in
    tab.open(f"/jobs/{finished_job}")
    tab.series("train_loss", finished_job).wait_for()
    chart = tab.page.locator('figure.chart[data-metric="train_loss"]')
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2

    def step_under_cursor() -> int:
        tab.page.mouse.move(x - 3, y)  # a real move, even when the pointer already rests there
        tab.page.mouse.move(x, y)
        text = chart.locator(".cursor-x").text_content() or ""
        assert text.startswith("at step "), text
        return int(text.removeprefix("at step "))

    tab.page.fill("#smoothing", "0.9")  # hover shows the raw value and the smoothed one
    overview = step_under_cursor()
    assert "(smoothed" in (chart.locator(".series-tag .hover").text_content() or "")

    tab.page.mouse.move(box["x"] + box["width"] * 0.5, y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=4)
    tab.page.mouse.up()
    zoomed = step_under_cursor()
    assert zoomed < overview, "near the right edge, the zoomed chart shows an earlier step"

    tab.page.click("#reset-zoom")
    wait_until(lambda: step_under_cursor() == overview, 5, "the zoom reset")

    tab.page.fill("#smoothing", "0")
    tab.page.check("#log-y")
    step_under_cursor()
    assert "(smoothed" not in (chart.locator(".series-tag .hover").text_content() or "")

    tab.page.select_option("#x-mode", "time")  # x becomes seconds since the job started
    tab.page.mouse.move(x - 3, y)
    tab.page.mouse.move(x, y)
    elapsed = chart.locator(".cursor-x").text_content() or ""
    assert re.fullmatch(r"at [0-9.]+s", elapsed), elapsed
    tab.page.select_option("#x-mode", "step")
    tab.shot("chart-log-unsmoothed")
    tab.assert_clean()
