// Human-readable figures for tables and headers.

export function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** The job's progress as a fraction in [0, 1], or null when unknown. */
export function progressFraction(job) {
  const p = job.progress || {};
  if (job.status === "succeeded") return 1;
  if (!p.total_steps) return null;
  return Math.min(1, (p.step || 0) / p.total_steps);
}

/**
 * A job after an update (a status event, a re-fetch): a null total_steps never erases a known one, and
 * within one attempt the step only moves forward (metrics may already be ahead of the event).
 */
export function mergeJob(old, fresh) {
  if (!old) return fresh;
  const a = old.progress || {};
  const b = fresh.progress || {};
  const sameAttempt = (old.attempts ?? 0) === (fresh.attempts ?? 0);
  const step = sameAttempt ? Math.max(a.step || 0, b.step || 0) : (b.step ?? 0);
  return { ...old, ...fresh, progress: { ...a, ...b, step, total_steps: b.total_steps ?? a.total_steps ?? null } };
}

/** Whether a job's total step count is still to be learned (the worker sets it as training starts). */
export function needsTotal(job) {
  return job.status === "running" && !job.progress?.total_steps;
}

// The metric a list row shows: accuracy when there is one, else the losses.
const KEY_METRICS = ["val_accuracy", "val_mae", "val_loss", "train_loss", "g_loss"];

export function keyMetric(summary) {
  for (const name of KEY_METRICS) {
    const v = summary?.[name];
    if (typeof v === "number") return [name, v];
  }
  return null;
}
