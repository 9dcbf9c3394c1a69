"""The new-job form: submit and watch the job live; the server's validation errors at their field."""

import json
from pathlib import Path

import pytest

from tests.browser.conftest import Member, Tab
from tests.stack import FINISHED, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Long enough on 2 busy cores that the page sees the curve grow while the job runs.
# Long enough (~10 s on an idle machine) for the page to see the curve grow while the job runs.
LIVE_CONFIG = {"epochs": 8, "batch_size": 8, "log_every_steps": 1, "val_fraction": 0.2}


def _points(tab: Tab, job_id: int) -> int:
    return int(tab.attr("train_loss", job_id, "points") or 0)


def test_submit_from_form_curve_grows_and_ends_at_api_value(signed_in: Tab, member: Member) -> None:
    tab = signed_in
    tab.open("/new")
    tab.page.check("input[name=dataset-source][value=builtin]")
    tab.page.select_option("#builtin-select", "digits")
    tab.page.fill("#job-name", "from-the-form")
    tab.page.fill("#job-config", json.dumps(LIVE_CONFIG, indent=2))
    tab.page.click("#submit-job")
    tab.page.wait_for_url("**/jobs/*")
    job_id = int(tab.page.url.rsplit("/", 1)[1])
    assert member.get(f"/jobs/{job_id}")["name"] == "from-the-form"

    # Two different point counts observed while the API still reports the job running.
    seen: set[int] = set()

    def grew() -> bool:
        drawn = _points(tab, job_id) if tab.series("train_loss", job_id).count() else 0
        job = member.get(f"/jobs/{job_id}")
        if job["status"] in FINISHED:
            raise AssertionError(f"job {job_id} ended {job['status']} ({job['error']}) before the page "
                                 f"saw its curve grow; drawn counts seen: {sorted(seen)}")
        if drawn and job["status"] == "running":
            seen.add(drawn)
        return len(seen) >= 2

    wait_until(grew, 120, f"the train_loss curve of job {job_id} to grow while running", every_s=0.3)
    tab.shot("job-live")

    job = member.wait_job(job_id)
    assert job["status"] == "succeeded", job["error"]
    truth = member.series(job_id, "train_loss")
    wait_until(lambda: tab.attr("train_loss", job_id, "last-step") == str(truth["steps"][-1]), 30,
               "the page to draw the last train_loss step")
    assert float(tab.attr("train_loss", job_id, "last-value") or "nan") == truth["values"][-1]
    assert _points(tab, job_id) == len(truth["steps"])
    tab.page.wait_for_selector('.job-header [data-status="succeeded"]')
    tab.shot("job-finished")
    tab.assert_clean()


def test_submit_bad_spec_shows_server_error_at_spec_line(signed_in: Tab, member: Member) -> None:
    tab = signed_in
    jobs_before = member.get("/jobs")["count"]
    tab.open("/new")
    bad = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                      {"type": "Linear", "out_features": -3}]}
    tab.page.fill("#model-spec", json.dumps(bad, indent=2))
    tab.page.click("#submit-job")
    error = tab.page.locator("#model-fieldset #spec-error:not([hidden])")
    error.wait_for()
    text = error.text_content() or ""
    # The server's loc ["body","spec","layers",2,"out_features"] lands on the line of that value.
    assert "layers[2]" in text, text
    assert "line 12" in text, text
    assert tab.page.get_attribute("#model-spec", "aria-invalid") == "true"
    assert tab.page.url.endswith("/new")
    assert member.get("/jobs")["count"] == jobs_before
    tab.shot("bad-spec")
    tab.assert_clean()


def test_submit_unknown_config_key_shows_error_at_config(signed_in: Tab) -> None:
    tab = signed_in
    tab.open("/new")
    tab.page.fill("#job-config", '{\n  "epochs": 1,\n  "epochz": 2\n}')
    tab.page.click("#submit-job")
    error = tab.page.locator("#config-fieldset #config-error:not([hidden])")
    error.wait_for()
    text = error.text_content() or ""
    assert "line 3" in text and "epochz" in text, text
    tab.assert_clean()


def test_submit_uploaded_csv_creates_dataset_and_job(signed_in: Tab, member: Member, tmp_path: Path) -> None:
    tab = signed_in
    table = tmp_path / "two-blobs.csv"
    rows = [f"{i % 7 / 7:.3f},{(i * 3) % 5 / 5:.3f},{'a' if i % 2 else 'b'}" for i in range(60)]
    table.write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    tab.open("/new")
    tab.page.check("input[name=dataset-source][value=upload]")
    tab.page.set_input_files("#dataset-file", str(table))
    spec = {"layers": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 2}]}
    tab.page.fill("#model-spec", json.dumps(spec))
    tab.page.fill("#job-config", json.dumps({"epochs": 1}))
    tab.page.click("#submit-job")
    tab.page.wait_for_url("**/jobs/*")
    job = member.get(f"/jobs/{int(tab.page.url.rsplit('/', 1)[1])}")
    dataset = member.get(f"/datasets/{job['dataset_id']}")
    assert (dataset["format"], dataset["num_samples"], dataset["input_shape"]) == ("csv", 60, [2])
    assert dataset["target"]["kind"] == "classes" and dataset["target"]["num_classes"] == 2
    tab.assert_clean()


def test_submit_shape_mismatch_shows_error_at_model(signed_in: Tab) -> None:
    tab = signed_in
    tab.open("/new")
    # digits has 10 classes; a 3-way output is refused at POST /jobs, before anything is queued.
    spec = {"layers": [{"type": "Linear", "out_features": 3}]}
    tab.page.fill("#model-spec", json.dumps(spec, indent=2))
    tab.page.click("#submit-job")
    error = tab.page.locator("#model-fieldset #spec-error:not([hidden])")
    error.wait_for()
    text = error.text_content() or ""
    # The loc names the last layer, so the message points at its line of the spec.
    assert "line 3, layers[0]" in text and "[10]" in text, text
    assert tab.page.url.endswith("/new")
    tab.shot("shape-mismatch")
    tab.assert_clean()


PY_MODEL = """import torch


def build_model(input_shape, num_outputs):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_shape[0], num_outputs))
"""


def test_submit_python_model_file(signed_in: Tab, member: Member, tmp_path: Path) -> None:
    tab = signed_in
    source = tmp_path / "tiny.py"
    source.write_text(PY_MODEL)
    tab.open("/new")
    tab.page.check("input[name=model-source][value=python]")
    tab.page.set_input_files("#model-file", str(source))
    tab.page.fill("#job-config", json.dumps({"epochs": 1, "batch_size": 128}))
    tab.page.click("#submit-job")
    tab.page.wait_for_url("**/jobs/*")
    job = member.get(f"/jobs/{int(tab.page.url.rsplit('/', 1)[1])}")
    model = member.get(f"/models/{job['model_id']}")
    assert model["kind"] == "python" and model["name"].startswith("tiny")
    tab.assert_clean()
