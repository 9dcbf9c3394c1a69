// Downloads of authenticated routes: a plain link cannot send the bearer token, so fetch then save.
import { api, query, raw } from "./api.js";
import { h } from "./dom.js";

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Save the body of a route (checkpoint weights, TensorBoard archive) under filename. */
export async function downloadRoute(path, filename) {
  const res = await raw(path);
  save(await res.blob(), filename);
}

const MAX_POINTS = 1_000_000;

/** Save a whole series (not the downsampled view) as CSV or JSON. */
export async function downloadSeries(jobId, name, format) {
  const body = await api(`/jobs/${jobId}/metrics/${encodeURIComponent(name)}${query({ max_points: MAX_POINTS })}`);
  const base = `job-${jobId}-${name}`;
  if (format === "json") {
    save(new Blob([JSON.stringify(body)], { type: "application/json" }), `${base}.json`);
    return;
  }
  const rows = ["step,value,time"];
  for (let i = 0; i < body.steps.length; i += 1) {
    rows.push(`${body.steps[i]},${body.values[i] ?? ""},${body.times[i]}`);
  }
  save(new Blob([rows.join("\n") + "\n"], { type: "text/csv" }), `${base}.csv`);
}

/** A button that runs an async download and shows its failure next to itself. */
export function downloadButton(label, run, attrs = {}) {
  const btn = h("button", { type: "button", class: "link-button", ...attrs }, label);
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await run();
      btn.removeAttribute("title");
    } catch (err) {
      btn.title = `Download failed: ${err.message}`;
      btn.classList.add("failed");
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
