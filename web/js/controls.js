// The chart toolbar shared by the job and compare pages; its settings persist in localStorage.
import { h } from "./dom.js";

const KEY = "torchyard.chartView";
const DEFAULT_VIEW = { smoothing: 0.6, logY: false, xMode: "step" };

export function loadView() {
  try {
    return { ...DEFAULT_VIEW, ...JSON.parse(localStorage.getItem(KEY) || "{}") };
  } catch {
    return { ...DEFAULT_VIEW };
  }
}

/** Build the toolbar; onChange(view) runs after every change, onReset() resets the charts' zoom. */
export function chartControls(onChange, onReset) {
  const view = loadView();
  const changed = () => {
    localStorage.setItem(KEY, JSON.stringify(view));
    onChange({ ...view });
  };
  const readout = h("output", { id: "smoothing-value" }, view.smoothing.toFixed(2));
  const slider = h("input", {
    type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: String(view.smoothing),
    oninput: (e) => {
      view.smoothing = Number(e.target.value);
      readout.textContent = view.smoothing.toFixed(2);
      changed();
    },
  });
  const log = h("input", {
    type: "checkbox", id: "log-y", checked: view.logY,
    onchange: (e) => { view.logY = e.target.checked; changed(); },
  });
  const xMode = h("select", {
    id: "x-mode", onchange: (e) => { view.xMode = e.target.value; changed(); },
  }, h("option", { value: "step", selected: view.xMode === "step" }, "step"),
  h("option", { value: "time", selected: view.xMode === "time" }, "time"));
  const el = h("div", { class: "toolbar", role: "group", "aria-label": "Chart settings" },
    h("label", { for: "smoothing" }, "Smoothing "), slider, readout,
    h("label", {}, log, " log y"),
    h("label", { for: "x-mode" }, "x axis "), xMode,
    h("button", { type: "button", id: "reset-zoom", onclick: () => onReset() }, "Reset zoom"),
    h("span", { class: "muted hint" }, "drag to zoom, double-click to reset"));
  return { el, view: { ...view } };
}
