// Compare: overlay the curves of several jobs, one colour per run; the selection lives in the URL.
import { api, ApiError, query } from "../api.js";
import { colorAt } from "../charts.js";
import { chartControls } from "../controls.js";
import { h, mount, notice, section } from "../dom.js";
import { mergeJob } from "../format.js";
import { MetricsView } from "../metrics.js";
import { setQuery } from "../router.js";
import { FINISHED, streamJobs } from "../sse.js";
import { statusBadge } from "./jobs.js";

function selectedIds() {
  const raw = new URLSearchParams(location.search).get("jobs") || "";
  return [...new Set(raw.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0))];
}

async function fetchJobs(ids, known) {
  const found = [];
  const missing = [];
  for (const id of ids) {
    if (known.has(id)) { found.push(known.get(id)); continue; }
    try {
      found.push(await api(`/jobs/${id}`));
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      missing.push(id);
    }
  }
  return { found, missing };
}

function picker(jobs, chosen, onChange) {
  return h("fieldset", { class: "picker", id: "compare-picker" }, h("legend", {}, "Runs"),
    jobs.map((j) => h("label", { class: "pick" },
      h("input", { type: "checkbox", value: j.id, checked: chosen.includes(j.id),
        onchange: (e) => onChange(j.id, e.target.checked) }),
      ` ${j.name || "job"} #${j.id} `, statusBadge(j.status))));
}

export async function comparePage(root) {
  const list = (await api(`/jobs${query({ limit: 200 })}`)).data;
  const known = new Map(list.map((j) => [j.id, j]));
  let ids = selectedIds();
  const charts = h("div", { class: "charts", id: "charts" });
  const message = h("div", {});
  let view = null;
  let stream = { close() {} };
  const controls = chartControls((v) => view?.setView(v), () => view?.resetZoom());
  const stop = () => {
    stream.close();
    view?.destroy();
    mount(charts);
  };

  let shown = 0;
  async function show() {
    const ticket = ++shown;
    stop();
    setQuery(ids.length ? { jobs: ids.join(",") } : {});
    const { found, missing } = await fetchJobs(ids, known);
    if (ticket !== shown) return; // a newer selection took over while this one loaded
    mount(message, missing.length ? notice(`No such job: ${missing.join(", ")}`) : null,
      found.length ? null : h("p", { class: "muted" }, "Pick two or more runs to overlay their curves."));
    const order = new Map(found.map((j, i) => [j.id, i]));
    const byId = new Map(found.map((j) => [j.id, j]));
    const current = new MetricsView(charts, found, controls.view, {
      colorOf: (s) => colorAt(order.get(s.job)),
      labelOf: (s) => `${byId.get(s.job).name || "job"} #${s.job}`,
      t0Of: (s) => {
        const started = (known.get(s.job) || byId.get(s.job)).started_at; // a status event may have set it
        return started ? Date.parse(started) / 1000 : s.times[0] ?? 0;
      },
    });
    view = current;
    const after = await current.load();
    if (ticket !== shown) {
      current.destroy();
      return;
    }
    const active = found.filter((j) => !FINISHED.has(j.status)).map((j) => j.id);
    const from = active.map((id) => after.get(id));
    const start = from.includes(null) ? 0 : from.reduce((a, b) => (Number(b) < Number(a) ? b : a), from[0]);
    stream = streamJobs(active, start, { metric: (points) => current.onMetric(points), status: onStatus });
  }

  // A run's badge in the picker (and the cached job, which later selections reuse) follows its status.
  function onStatus(job) {
    const merged = mergeJob(known.get(job.id), job);
    known.set(job.id, merged);
    const box = runs.querySelector(`input[value="${job.id}"]`);
    box?.closest("label")?.querySelector(".status")?.replaceWith(statusBadge(merged.status));
  }

  function onPick(id, on) {
    ids = on ? [...ids, id] : ids.filter((x) => x !== id);
    show().catch((err) => mount(message, notice(`Could not load runs: ${err.message}`)));
  }

  const runs = picker(list, ids, onPick);
  mount(root, h("h1", {}, "Compare runs"), runs, message,
    section("Metrics", "compare-metrics", controls.el, charts));
  await show();
  return stop;
}
