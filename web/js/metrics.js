// The metric side of a job or compare page: load each series' downsampled history, make a chart per
// metric, and feed live points from the event stream into the same Series objects.
import { api, query } from "./api.js";
import { ChartPanel } from "./charts.js";
import { Series } from "./series.js";

// The most points one zoom asks for: detail without a multi-megabyte response.
const ZOOM_CAP = 60_000;

/** Points to ask the server for: about three per pixel of plot width. */
export function pointBudget() {
  return Math.min(8000, Math.max(1000, Math.ceil(3 * window.innerWidth)));
}

// Training loss first, then validation, then the rest, each group alphabetical.
function rank(name) {
  if (name === "train_loss" || name === "d_loss" || name === "g_loss") return 0;
  return name.startsWith("val_") ? 1 : 2;
}

export function sortNames(names) {
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The smaller of two event ids (they are decimal strings); null means "none yet". */
function minId(a, b) {
  if (a === null) return b;
  const na = Number(a);
  const nb = Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) ? (na <= nb ? a : b) : a;
}

export class MetricsView {
  /** jobs: job objects; style: {colorOf, labelOf, t0Of} for ChartPanel; container: where charts go. */
  constructor(container, jobs, view, style) {
    this.container = container;
    this.jobs = new Map(jobs.map((j) => [Number(j.id), j]));
    this.view = view;
    this.style = style;
    this.panels = new Map();
    this.series = new Map();
    this.budget = pointBudget();
  }

  /** Load every job's series; returns the event id to stream after per job (null: not loaded). */
  async load() {
    const after = new Map();
    for (const id of this.jobs.keys()) {
      const { names } = await api(`/jobs/${id}/metrics`);
      const bodies = await Promise.all(sortNames(names).map((name) =>
        api(`/jobs/${id}/metrics/${encodeURIComponent(name)}${query({ max_points: this.budget })}`)));
      let last = null;
      for (const body of bodies) {
        this.seriesFor(id, body.name).load(body);
        if (body.last_event_id !== undefined && body.last_event_id !== null) {
          last = minId(last, String(body.last_event_id));
        }
      }
      after.set(id, last);
    }
    this.redraw();
    return after;
  }

  seriesFor(job, name) {
    const key = `${job}\u0000${name}`;
    let s = this.series.get(key);
    if (s) return s;
    s = new Series(job, name, this.budget);
    this.series.set(key, s);
    this.panelFor(name).add(s);
    return s;
  }

  panelFor(name) {
    let panel = this.panels.get(name);
    if (panel) return panel;
    panel = new ChartPanel(name, this.view, { ...this.style, onZoom: (p, lo, hi) => this.zoom(p, lo, hi) });
    this.panels.set(name, panel);
    // Keep the charts in the same order as a fresh page load would.
    const order = sortNames([...this.panels.keys()]);
    const next = order[order.indexOf(name) + 1];
    this.container.insertBefore(panel.el, next ? this.panels.get(next).el : null);
    return panel;
  }

  /** Live `metric` event points: [{job_id, name, step, value, time}]. */
  onMetric(points) {
    const touched = new Set();
    for (const p of points) {
      if (!this.jobs.has(Number(p.job_id))) continue;
      const s = this.seriesFor(Number(p.job_id), p.name);
      if (s.append([p]) > 0) touched.add(this.panels.get(p.name));
    }
    for (const panel of touched) panel.update();
  }

  /**
   * A zoomed window of a downsampled series shows coarse buckets; fetch that window at full budget.
   * The route has no upper bound, so ask for enough points that the window alone gets the budget.
   */
  async zoom(panel, lo, hi) {
    const series = panel.series;
    if (lo === null || this.view.xMode !== "step") {
      series.forEach((s) => s.unzoom());
      panel.update();
      return;
    }
    const ticket = (this.zoomTicket = (this.zoomTicket || 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, 150)); // a drag fires several scale changes
    if (ticket !== this.zoomTicket) return;
    await Promise.all(series.filter((s) => s.downsampled || s.coarse).map(async (s) => {
      const span = Math.max(1, s.lastStep - lo);
      const want = Math.ceil(this.budget * span / Math.max(1, hi - lo));
      const params = { since_step: Math.max(0, Math.floor(lo) - 1), max_points: Math.min(ZOOM_CAP, Math.max(3, want)) };
      const body = await api(`/jobs/${s.job}/metrics/${encodeURIComponent(s.name)}${query(params)}`);
      if (ticket === this.zoomTicket && panel.zoomed) s.zoomTo(body, lo, hi);
    }));
    panel.update();
  }

  resetZoom() {
    for (const panel of this.panels.values()) panel.resetZoom();
  }

  setView(view) {
    this.view = view;
    for (const panel of this.panels.values()) panel.setView(view);
  }

  redraw() {
    for (const panel of this.panels.values()) panel.update();
  }

  get names() {
    return sortNames([...this.panels.keys()]);
  }

  destroy() {
    for (const panel of this.panels.values()) {
      panel.destroy();
      panel.el.remove();
    }
    this.panels.clear();
  }
}
