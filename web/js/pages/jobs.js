// The jobs list: live status and progress over one multiplexed event stream, plus a light refresh
// of the list itself so new jobs appear.
import { api, query } from "../api.js";
import { h, mount, notice, thead } from "../dom.js";
import { age, keyMetric, mergeJob, num, progressFraction } from "../format.js";
import { navigate } from "../router.js";
import { FINISHED, streamJobs, totalLearner } from "../sse.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 10_000;
const LIMIT = 200;

export function statusBadge(status) {
  return h("span", { class: `status status-${status}`, "data-status": status }, status);
}

export function progressCell(job) {
  const f = progressFraction(job);
  const p = job.progress || {};
  const text = p.total_steps ? `${p.step || 0}/${p.total_steps}` : "";
  return h("span", { class: "progress-cell" },
    h("progress", { max: 1, value: f ?? 0, "aria-label": `progress of job ${job.id}` }), " ", text);
}

function row(job, selected) {
  const metric = keyMetric(job.summary);
  const box = h("input", { type: "checkbox", checked: selected.has(job.id), "aria-label": `select job ${job.id}`,
    onchange: (e) => (e.target.checked ? selected.add(job.id) : selected.delete(job.id)) });
  return h("tr", { dataset: { jobId: job.id, status: job.status } },
    h("td", {}, box),
    h("td", {}, h("a", { href: `/jobs/${job.id}`, "data-nav": true }, job.name || `job ${job.id}`),
      h("span", { class: "muted" }, ` #${job.id}`)),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, progressCell(job)),
    h("td", { title: metric ? metric[0] : "" }, metric ? `${metric[0]} ${num(metric[1])}` : "–"),
    h("td", { title: job.created_at }, age(job.created_at)));
}

export async function jobsPage(root) {
  const jobs = new Map();
  const selected = new Set();
  const status = h("select", { id: "status-filter", "aria-label": "Filter by status", onchange: draw },
    h("option", { value: "" }, "all statuses"), STATUSES.map((s) => h("option", { value: s }, s)));
  const text = h("input", { id: "text-filter", type: "search", placeholder: "filter by name or id",
    "aria-label": "Filter by text", oninput: draw });
  const tbody = h("tbody", {});
  const message = h("div", {});
  const compare = h("button", { type: "button", id: "compare-selected", onclick: () => {
    if (selected.size) navigate(`/compare?jobs=${[...selected].join(",")}`);
    else mount(message, notice("Tick one or more jobs to compare first.", "info"));
  } }, "Compare selected");
  mount(root, h("h1", {}, "Jobs"),
    h("div", { class: "toolbar" }, status, text, compare,
      h("a", { href: "/new", "data-nav": true, class: "button" }, "New job")),
    message,
    h("div", { class: "table-scroll" }, h("table", { class: "jobs", id: "jobs-table" },
      thead(["", "name", "status", "progress", "key metric", "age"]),
      tbody)));

  function draw() {
    const want = status.value;
    const needle = text.value.trim().toLowerCase();
    const shown = [...jobs.values()].filter((j) => (!want || j.status === want)
      && (!needle || `${j.name} ${j.id}`.toLowerCase().includes(needle)));
    mount(tbody, shown.length ? shown.map((j) => row(j, selected))
      : h("tr", {}, h("td", { colspan: 6, class: "muted" }, jobs.size ? "No jobs match the filters."
        : h("span", {}, "No jobs yet. ", h("a", { href: "/new", "data-nav": true }, "Submit one"), "."))));
  }

  let stream = { close() {} };
  let streamed = "";
  function restream() {
    const active = [...jobs.values()].filter((j) => !FINISHED.has(j.status)).map((j) => j.id);
    const key = active.sort((a, b) => a - b).join(",");
    if (key === streamed) return;
    stream.close();
    streamed = key;
    stream = streamJobs(active, null, { status: onStatus, metric: onMetric });
  }
  function onStatus(job) {
    jobs.set(job.id, mergeJob(jobs.get(job.id), job));
    draw();
    learnTotal(jobs.get(job.id));
  }
  const learnTotal = totalLearner((id, progressOf) => {
    const now = jobs.get(id);
    if (!now) return;
    now.progress = progressOf(now);
    tbody.querySelector(`tr[data-job-id="${id}"]`)?.replaceWith(row(now, selected));
  });
  // Progress follows the training steps; only the touched rows are replaced, so focus stays put.
  function onMetric(points) {
    const touched = new Set();
    for (const p of points) {
      const job = jobs.get(Number(p.job_id));
      if (!job) continue;
      if (p.name === "train_loss") {
        job.progress = { ...job.progress, step: Math.max(job.progress?.step || 0, p.step) };
      }
      job.summary = { ...job.summary, [p.name]: p.value };
      touched.add(job);
    }
    for (const job of touched) {
      tbody.querySelector(`tr[data-job-id="${job.id}"]`)?.replaceWith(row(job, selected));
      learnTotal(job);
    }
  }
  async function refresh() {
    try {
      const body = await api(`/jobs${query({ limit: LIMIT })}`);
      const before = new Map(jobs);
      jobs.clear();
      for (const j of body.data) jobs.set(j.id, mergeJob(before.get(j.id), j));
      mount(message, body.count > body.data.length
        ? h("p", { class: "muted" }, `Showing the newest ${body.data.length} of ${body.count} jobs.`) : null);
      draw();
      restream();
    } catch (err) {
      mount(message, notice(`Could not load jobs: ${err.message}`));
    }
  }
  await refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    stream.close();
  };
}
