// One job, live: header with status and cancel, charts fed by the event stream, and its panels.
import { api } from "../api.js";
import { colorAt } from "../charts.js";
import { chartControls } from "../controls.js";
import { h, mount, notice, section } from "../dom.js";
import { downloadButton, downloadRoute, downloadSeries } from "../download.js";
import { mergeJob, when } from "../format.js";
import { MetricsView } from "../metrics.js";
import { FINISHED, streamJobs, totalLearner } from "../sse.js";
import { checkpointPanel, configPanel, errorPanel, logPanel, modelPanel } from "./jobparts.js";
import { progressCell, statusBadge } from "./jobs.js";

function startTime(job, series) {
  return job.started_at ? Date.parse(job.started_at) / 1000 : (series.times[0] ?? 0);
}

function header(job, onCancel) {
  const cancel = h("button", { type: "button", id: "cancel-job", class: "danger", disabled: FINISHED.has(job.status),
    onclick: onCancel }, "Cancel job");
  return h("div", { class: "job-header" },
    h("h1", {}, job.name || `job ${job.id}`, h("span", { class: "muted" }, ` #${job.id}`)),
    h("div", { class: "job-meta" }, statusBadge(job.status), progressCell(job),
      h("span", {}, `attempts ${job.attempts ?? 0}`),
      h("span", { class: "muted" }, `created ${when(job.created_at)}`),
      job.finished_at ? h("span", { class: "muted" }, `finished ${when(job.finished_at)}`) : null,
      cancel));
}

/** The job as this page knows it, shown in the header; status events and live steps update it. */
class LiveHeader {
  constructor(job, onCancel) {
    this.job = job;
    this.onCancel = onCancel;
    this.el = h("div", {});
    this.learn = totalLearner((_id, progressOf) => {
      this.job = { ...this.job, progress: progressOf(this.job) };
      this.showProgress();
    });
    this.show();
  }

  show() {
    mount(this.el, header(this.job, this.onCancel));
  }

  /** A status event: its total_steps is null until training starts, so ask the API for it then. */
  update(fresh) {
    this.job = mergeJob(this.job, fresh);
    this.show();
    this.learnTotal();
  }

  /** The newest training step seen in the metric stream. */
  advance(step) {
    this.job.progress = { ...this.job.progress, step: Math.max(this.job.progress?.step || 0, step) };
    this.showProgress();
    this.learnTotal();
  }

  showProgress() {
    this.el.querySelector(".progress-cell")?.replaceWith(progressCell(this.job));
  }

  learnTotal() {
    this.learn(this.job);
  }
}

/** A colour per metric, kept from when the metric is first seen however many arrive after it. */
function stableColours() {
  const colours = new Map();
  return (s) => {
    if (!colours.has(s.name)) colours.set(s.name, colorAt(colours.size));
    return colours.get(s.name);
  };
}

/** The line shown in the Metrics card while it has no chart. */
function emptyNote() {
  const el = h("p", { class: "muted", id: "no-metrics", hidden: true });
  const show = (job, metrics) => {
    el.hidden = metrics.names.length > 0;
    el.textContent = FINISHED.has(job.status) ? "This job recorded no metrics."
      : "No metrics yet; the charts appear with the first training step.";
  };
  return { el, show };
}

function downloadsPanel(job, metrics) {
  const pick = h("select", { id: "series-pick", "aria-label": "Series to download" });
  const series = (format) => downloadButton(format.toUpperCase(),
    () => downloadSeries(job.id, pick.value, format), { id: `download-${format}` });
  const buttons = [series("csv"), series("json")];
  const fill = () => {
    const keep = pick.value;
    mount(pick, metrics.names.map((n) => h("option", { value: n, selected: n === keep }, n)));
    for (const b of buttons) b.disabled = metrics.names.length === 0;
  };
  fill();
  // Series can appear while the job runs; refresh the choices whenever the picker is used.
  pick.addEventListener("focus", fill);
  return { fill, el: section("Downloads", "job-downloads",
    h("div", { class: "toolbar" }, h("label", { for: "series-pick" }, "Series "), pick, ...buttons,
      downloadButton("TensorBoard events (.tar.gz)",
        () => downloadRoute(`/jobs/${job.id}/tensorboard`, `job-${job.id}-tensorboard.tar.gz`),
        { id: "download-tensorboard" }))) };
}

export async function jobPage(root, id) {
  const status = h("div", { id: "cancel-status" });
  async function cancel() {
    try {
      await api(`/jobs/${id}/cancel`, { method: "POST" });
      mount(status, notice("Cancel requested; the job stops at its next step.", "info"));
    } catch (err) {
      mount(status, notice(`Could not cancel: ${err.message}`));
    }
  }
  const live = new LiveHeader(await api(`/jobs/${id}`), cancel);
  const charts = h("div", { class: "charts", id: "charts" });
  const controls = chartControls((view) => metrics.setView(view), () => metrics.resetZoom());
  const errors = errorPanel();
  const model = modelPanel(id);
  const logs = logPanel(id);
  const checkpoints = checkpointPanel(id);
  const empty = emptyNote();
  const metrics = new MetricsView(charts, [live.job], controls.view, {
    colorOf: stableColours(), labelOf: (s) => s.name, t0Of: (s) => startTime(live.job, s),
  });
  errors.show(live.job);
  const downloads = downloadsPanel(live.job, metrics);
  mount(root, live.el, status, errors.el, section("Metrics", "job-metrics", controls.el, empty.el, charts),
    downloads.el, model.el, logs.el, checkpoints.el, configPanel(live.job));

  const [loaded] = await Promise.all([metrics.load(), model.load(), checkpoints.load()]);
  const after = loaded.get(Number(id));
  downloads.fill();
  empty.show(live.job, metrics);
  const finished = FINISHED.has(live.job.status);
  // With no series yet, stream the job from its first event, which also replays its log lines.
  if (finished || after !== null) await logs.load();
  if (finished) return () => metrics.destroy();
  let refetch = null;
  const onMetric = (points) => {
    const known = metrics.names.length;
    metrics.onMetric(points);
    if (metrics.names.length !== known) {
      downloads.fill();
      empty.show(live.job, metrics);
    }
    const steps = points.filter((p) => p.name === "train_loss").map((p) => p.step);
    live.advance(Math.max(0, ...steps));
    // Per-epoch metrics come with the epoch's checkpoint, which lands just after them.
    if (points.some((p) => p.name === "epoch_time_s" || p.name.startsWith("val_"))) {
      clearTimeout(refetch);
      refetch = setTimeout(() => checkpoints.load(), 1500);
    }
  };
  const stream = streamJobs([id], after ?? 0, {
    metric: onMetric,
    log: (entry) => logs.append(entry),
    status: (j) => {
      live.update(j);
      errors.show(live.job);
      empty.show(live.job, metrics);
      model.load();
      if (FINISHED.has(j.status)) {
        mount(status); // a "Cancel requested" notice is stale once the job ended
        checkpoints.load();
      }
    },
  });
  return () => {
    clearTimeout(refetch);
    stream.close();
    metrics.destroy();
  };
}
