// Charts: each panel is one uPlot instance created once; data changes go through setData, batched
// into one animation frame however many live points arrive in between.
import { h } from "./dom.js";
import { num } from "./format.js";

const PALETTE = ["#2f7ed8", "#e4572e", "#29a36a", "#a05eb5", "#f0a202", "#17becf", "#d62789",
  "#8c564b", "#7f7f7f", "#bcbd22"];

export function colorAt(i) {
  return PALETTE[i % PALETTE.length];
}

const dirty = new Set();
const live = new Set();
let scheduled = false;

/** Redraw every chart on the page (after a theme change: axis colours come from CSS variables). */
export function redrawAll() {
  for (const panel of live) schedule(panel);
}

function schedule(panel) {
  dirty.add(panel);
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    const panels = [...dirty];
    dirty.clear();
    for (const p of panels) p.draw();
  });
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function duration(s) {
  if (Math.abs(s) < 60) return `${+s.toFixed(1)}s`;
  if (Math.abs(s) < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
  return `${(s / 3600).toFixed(1)}h`;
}

/**
 * One metric's chart: several Series (one per job) drawn with per-run colours.
 * view: {smoothing, logY, xMode: "step"|"time"};
 * style: {colorOf(series), labelOf(series), t0Of(series), onZoom(panel, min, max) (null, null: reset)}.
 */
export class ChartPanel {
  constructor(title, view, style) {
    this.title = title;
    this.view = view;
    this.style = style;
    this.series = [];
    this.tags = new Map();
    this.colours = new Map(); // fixed when a series is added: its swatch and its line always agree
    this.plot = null;
    this.zoomed = false;
    this.shape = "";
    this.legend = h("ul", { class: "series-legend" });
    this.canvasBox = h("div", { class: "chart-canvas" });
    this.cursorText = h("span", { class: "cursor-x muted" }, "");
    this.el = h("figure", { class: "chart", dataset: { metric: title } },
      h("figcaption", {}, title, " ", this.cursorText), this.canvasBox, this.legend);
    this.resizer = new ResizeObserver(() => this.resize());
    this.resizer.observe(this.canvasBox);
    live.add(this);
  }

  add(series) {
    this.series.push(series);
    const color = this.style.colorOf(series);
    this.colours.set(series, color);
    const tag = h("li", { class: "series-tag", dataset: { series: series.name, job: series.job, points: 0 } },
      h("span", { class: "swatch", style: { background: color } }),
      h("span", { class: "label" }, this.style.labelOf(series)),
      h("span", { class: "last" }, ""),
      h("span", { class: "hover" }, ""));
    this.tags.set(series, tag);
    this.legend.append(tag);
    this.update();
  }

  setView(view) {
    this.view = view;
    this.update();
  }

  /** Ask for a redraw on the next animation frame. */
  update() {
    schedule(this);
  }

  draw() {
    if (!this.el.isConnected) return;
    const v = this.view;
    const shape = `${this.series.length}|${v.smoothing > 0}|${v.logY}|${v.xMode}|${cssVar("--fg")}`;
    const data = this.data();
    if (shape !== this.shape || !this.plot) this.build(shape, data);
    else this.plot.setData(data, !this.zoomed);
    this.updateTags();
  }

  data() {
    const smooth = this.view.smoothing > 0;
    const tables = this.series.map((s) => {
      const t0 = this.style.t0Of(s);
      const xs = this.view.xMode === "time" ? s.times.map((t) => t - t0) : s.steps;
      const cols = smooth ? [xs, s.values, s.smooth(this.view.smoothing)] : [xs, s.values];
      return this.view.logY ? cols.map((c, i) => (i === 0 ? c : c.map(positive))) : cols;
    });
    if (tables.length === 1) return tables[0];
    if (tables.length === 0) return [[]];
    return uPlot.join(tables);
  }

  build(shape, data) {
    this.plot?.destroy();
    this.shape = shape;
    this.zoomed = false;
    const fg = cssVar("--fg");
    const grid = cssVar("--grid");
    const axis = { stroke: fg, grid: { stroke: grid }, ticks: { stroke: grid } };
    const xAxis = this.view.xMode === "time"
      ? { ...axis, values: (_u, ticks) => ticks.map(duration) } : axis;
    const opts = {
      width: this.width(), height: 240,
      scales: { x: { time: false }, y: { distr: this.view.logY ? 3 : 1 } },
      axes: [xAxis, { ...axis, size: axisSize, values: (_u, ticks, _i, _space, incr) => ticks.map((v) => {
        if (v === null || v === undefined) return ""; // log axes leave some ticks unlabelled
        return this.view.logY ? logTick(v) : tick(v, incr);
      }) }],
      series: [{}, ...this.series.flatMap((s) => this.seriesOpts(s))],
      cursor: { drag: { x: true, y: false } },
      legend: { show: false },
      hooks: {
        setSelect: [(u) => { if (u.select.width > 0) this.zoomed = true; }],
        setScale: [(u, key) => {
          if (key === "x" && this.zoomed) this.style.onZoom?.(this, u.scales.x.min, u.scales.x.max);
        }],
        setCursor: [(u) => this.showCursor(u.cursor.idx)],
      },
    };
    this.plot = new uPlot(opts, data, this.canvasBox);
    this.plot.over.addEventListener("dblclick", () => {
      this.zoomed = false;
      this.style.onZoom?.(this, null, null);
    });
  }

  /** What a double-click does, for the keyboard's reset button. */
  resetZoom() {
    if (!this.zoomed) return;
    this.zoomed = false;
    this.style.onZoom?.(this, null, null);
    this.update();
  }

  seriesOpts(s) {
    const color = this.colours.get(s);
    const line = { label: this.style.labelOf(s), stroke: color, width: 1.5, spanGaps: true };
    if (!(this.view.smoothing > 0)) return [line];
    // The raw curve stays faintly visible under the smoothed one, as in TensorBoard.
    return [{ ...line, stroke: `${color}55`, width: 1 }, line];
  }

  /** Hover values: the legend shows each series' raw (and smoothed) value under the cursor. */
  showCursor(idx) {
    const data = this.plot?.data;
    const valid = data && idx !== null && idx !== undefined && idx < data[0].length;
    const x = valid ? data[0][idx] : null;
    this.cursorText.textContent = valid ? (this.view.xMode === "time" ? `at ${duration(x)}` : `at step ${x}`) : "";
    const per = this.view.smoothing > 0 ? 2 : 1;
    this.series.forEach((s, i) => {
      const hover = this.tags.get(s).querySelector(".hover");
      if (!valid) { hover.textContent = ""; return; }
      const raw = data[1 + i * per][idx];
      const smooth = per === 2 ? data[2 + i * per][idx] : null;
      hover.textContent = raw === null || raw === undefined ? "" :
        `| ${num(raw)}${smooth === null || smooth === undefined ? "" : ` (smoothed ${num(smooth)})`}`;
    });
  }

  updateTags() {
    for (const s of this.series) {
      const tag = this.tags.get(s);
      const last = s.last;
      tag.dataset.points = String(s.steps.length);
      if (!last) continue;
      tag.dataset.lastStep = String(last.step);
      tag.dataset.lastValue = String(last.value);
      tag.querySelector(".last").textContent = `${num(last.value)} @ ${last.step}`;
    }
  }

  width() {
    return Math.max(160, Math.floor(this.canvasBox.clientWidth || 600));
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: 240 });
  }

  destroy() {
    this.resizer.disconnect();
    dirty.delete(this);
    live.delete(this);
    this.plot?.destroy();
    this.plot = null;
  }
}

/** The power of ten of x's last significant digit: 2.5 -> -1, 0.0015 -> -4, 2500 -> 2 (float noise aside). */
function lastDigit(x) {
  const [mantissa, exp] = Math.abs(+x.toPrecision(6)).toExponential().split("e");
  return Number(exp) - (mantissa.split(".")[1] || "").length;
}

/** A y tick with every digit the tick spacing has, so ticks 12.5 and 10 read "12.5" and "10.0". */
export function tick(v, incr) {
  if (v === 0) return "0";
  const last = lastDigit(incr);
  if (Math.abs(v) >= 1e6 || incr < 1e-4) {
    const exp = Number(v.toExponential().split("e")[1]);
    return v.toExponential(Math.max(0, exp - last)).replace("e+", "e");
  }
  return v.toFixed(Math.max(0, -last));
}

/** A log-axis tick: 3 significant digits, in exponent notation when small or large (1e-6, not .000001). */
export function logTick(v) {
  const p = +v.toPrecision(3);
  const a = Math.abs(p);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? p.toExponential().replace("e+", "e") : String(p);
}

const measure = document.createElement("canvas").getContext("2d");
// uPlot's default axis font, which the labels are drawn in.
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';

/** The y axis' width: its widest label plus uPlot's tick (10 px) and gap (5 px), so no label is clipped. */
export function axisSize(u, values) {
  measure.font = AXIS_FONT;
  const widest = Math.max(0, ...(values || []).map((text) => measure.measureText(text).width));
  return Math.max(40, Math.ceil(widest) + 20);
}

function positive(v) {
  return v !== null && v > 0 ? v : null;
}
