"""The live job page: cancel from the page; the panels of a finished job."""

import csv
import re
import tarfile
from pathlib import Path

import pytest

from tests.browser.conftest import Member, Tab
from tests.stack import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


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
