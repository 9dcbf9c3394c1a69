// One job, live: header with status and cancel, charts fed by the event stream, and its panels.
import { api } from "../api.js";
import { colorAt } from "../charts.js";
import { chartControls } from "../controls.js";
import { h, mount, notice, section } from "../dom.js";
import { downloadButton, downloadRoute, downloadSeries } from "../download.js";
import { when } from "../format.js";
import { MetricsView } from "../metrics.js";
import { FINISHED, streamJobs } from "../sse.js";
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

function downloadsPanel(job, metrics) {
  const pick = h("select", { id: "series-pick", "aria-label": "Series to download" });
  const fill = () => {
    const keep = pick.value;
    mount(pick, metrics.names.map((n) => h("option", { value: n, selected: n === keep }, n)));
  };
  fill();
  // Series can appear while the job runs; refresh the choices whenever the picker is used.
  pick.addEventListener("focus", fill);
  const series = (format) => downloadButton(format.toUpperCase(),
    () => downloadSeries(job.id, pick.value, format), { id: `download-${format}` });
  return { fill, el: section("Downloads", "job-downloads",
    h("div", { class: "toolbar" }, h("label", { for: "series-pick" }, "Series "), pick, series("csv"), series("json"),
      downloadButton("TensorBoard events (.tar.gz)",
        () => downloadRoute(`/jobs/${job.id}/tensorboard`, `job-${job.id}-tensorboard.tar.gz`),
        { id: "download-tensorboard" }))) };
}

export async function jobPage(root, id) {
  let job = await api(`/jobs/${id}`);
  const head = h("div", {});
  const status = h("div", { id: "cancel-status" });
  const charts = h("div", { class: "charts", id: "charts" });
  const controls = chartControls((view) => metrics.setView(view), () => metrics.resetZoom());
  const errors = errorPanel();
  const model = modelPanel(id);
  const logs = logPanel(id);
  const checkpoints = checkpointPanel(id);
  const metrics = new MetricsView(charts, [job], controls.view, {
    colorOf: (s) => colorAt(Math.max(0, metrics.names.indexOf(s.name))),
    labelOf: (s) => s.name,
    t0Of: (s) => startTime(job, s),
  });
  async function cancel() {
    try {
      await api(`/jobs/${id}/cancel`, { method: "POST" });
      mount(status, notice("Cancel requested; the job stops at its next step.", "info"));
    } catch (err) {
      mount(status, notice(`Could not cancel: ${err.message}`));
    }
  }
  const showJob = () => {
    mount(head, header(job, cancel));
    errors.show(job);
  };
  showJob();
  const downloads = downloadsPanel(job, metrics);
  mount(root, head, status, errors.el, section("Metrics", "job-metrics", controls.el, charts),
    downloads.el, model.el, logs.el, checkpoints.el, configPanel(job));

  const [loaded] = await Promise.all([metrics.load(), model.load(), checkpoints.load()]);
  const after = loaded.get(Number(id));
  downloads.fill();
  const finished = FINISHED.has(job.status);
  // With no series yet, stream the job from its first event, which also replays its log lines.
  if (finished || after !== null) await logs.load();
  if (finished) return () => metrics.destroy();
  let refetch = null;
  const onMetric = (points) => {
    const known = metrics.names.length;
    metrics.onMetric(points);
    if (metrics.names.length !== known) downloads.fill();
    const steps = points.filter((p) => p.name === "train_loss").map((p) => p.step);
    if (steps.length) {
      job.progress = { ...job.progress, step: Math.max(job.progress?.step || 0, ...steps) };
      head.querySelector(".progress-cell")?.replaceWith(progressCell(job));
    }
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
      job = j;
      showJob();
      model.load();
      if (FINISHED.has(j.status)) checkpoints.load();
    },
  });
  return () => {
    clearTimeout(refetch);
    stream.close();
    metrics.destroy();
  };
}
