// The job page's panels below the charts: error, config, model, logs, checkpoints.
import { api, ApiError, raw } from "../api.js";
import { h, mount, notice, section, thead } from "../dom.js";
import { downloadButton, downloadRoute } from "../download.js";
import { bytes, num, when } from "../format.js";
import { renderGraph } from "../graph.js";

const LOG_LINES = 1000;

export function errorPanel() {
  const el = h("div", { id: "job-error" });
  return {
    el,
    show(job) {
      mount(el, job.status === "failed" && job.error
        ? h("div", { class: "card failed-card" }, h("h2", {}, "Error"), h("p", { class: "error-text" }, job.error))
        : null);
    },
  };
}

export function configPanel(job) {
  return section("Config", "job-config", h("pre", { class: "code" }, JSON.stringify(job.config, null, 2)));
}

export function modelPanel(jobId) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let loaded = false;
  async function load() {
    if (loaded) return;
    try {
      const info = await api(`/jobs/${jobId}/model`);
      loaded = true;
      mount(body, h("p", {}, `${info.parameters.toLocaleString()} parameters`), summaryTable(info.summary),
        h("h3", {}, "Computation graph"), renderGraph(info.graph));
    } catch (err) {
      const pending = err instanceof ApiError && (err.status === 404 || err.status === 409);
      mount(body, pending ? h("p", { class: "muted" }, "The model summary appears once a worker builds the model.")
        : notice(`Could not load the model: ${err.message}`));
    }
  }
  return { el: section("Model", "job-model", body), load };
}

function summaryTable(rows) {
  return h("table", { class: "summary" },
    thead(["path", "type", "output shape", "parameters"]),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", { class: "mono" }, r.path), h("td", {}, r.type),
      h("td", { class: "mono" }, JSON.stringify(r.output_shape)), h("td", { class: "num" }, num(r.parameters))))));
}

export function logPanel(jobId) {
  const pre = h("pre", { class: "code log", id: "job-log", tabindex: "0", "aria-label": "Job log" });
  let lines = [];
  function show() {
    const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = lines.length ? lines.join("\n") : "No log lines yet.";
    if (stick) pre.scrollTop = pre.scrollHeight; // follow the tail unless the user scrolled up
  }
  return {
    el: section("Log", "job-logs", pre),
    async load() {
      const res = await (await raw(`/jobs/${jobId}/logs`)).text();
      lines = res.split("\n").filter((l, i, all) => l !== "" || i < all.length - 1).slice(-LOG_LINES);
      show();
    },
    append(entry) {
      lines.push(entry.line);
      if (lines.length > LOG_LINES) lines = lines.slice(-LOG_LINES);
      show();
    },
  };
}

export function checkpointPanel(jobId) {
  const body = h("div", {});
  async function load() {
    try {
      const { data } = await api(`/jobs/${jobId}/checkpoints`);
      mount(body, data.length ? checkpointTable(jobId, data) : h("p", { class: "muted" }, "No checkpoints yet."));
    } catch (err) {
      mount(body, notice(`Could not load checkpoints: ${err.message}`));
    }
  }
  return { el: section("Checkpoints", "job-checkpoints", body), load };
}

function checkpointTable(jobId, rows) {
  const metrics = (m) => Object.entries(m || {}).map(([k, v]) => `${k} ${num(v)}`).join(", ");
  return h("table", { class: "checkpoints" },
    thead(["step", "epoch", "metrics", "size", "saved", "download"]),
    h("tbody", {}, rows.map((c) => h("tr", { dataset: { step: c.step } },
      h("td", { class: "num" }, c.step), h("td", { class: "num" }, c.epoch), h("td", {}, metrics(c.metrics)),
      h("td", { class: "num" }, bytes(c.size_bytes)), h("td", {}, when(c.created_at)),
      h("td", {},
        downloadButton(".pt",
          () => downloadRoute(`/jobs/${jobId}/checkpoints/${c.step}`, `job-${jobId}-step-${c.step}.pt`)),
        " ",
        downloadButton(".safetensors", () => downloadRoute(`/jobs/${jobId}/checkpoints/${c.step}?format=safetensors`,
          `job-${jobId}-step-${c.step}.safetensors`)))))));
}
