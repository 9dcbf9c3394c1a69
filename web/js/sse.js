// Live events over one EventSource: metric batches, status changes and log lines.
// EventSource itself reconnects with Last-Event-ID, so the server resumes without gaps or repeats.
import { api, eventsUrl } from "./api.js";
import { mergeJob, needsTotal } from "./format.js";

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Stream events of one or more jobs.
 * handlers: {metric(points), status(job), log({job_id, line}), open()}; after: an event id or null.
 * Returns {close()}. The stream is closed once every job reached a finished status, because the
 * server ends a finished job's stream and EventSource would otherwise reconnect forever.
 */
export function streamJobs(jobIds, after, handlers) {
  const ids = [...new Set(jobIds.map(Number))];
  if (ids.length === 0) return { close() {} };
  const params = { after: after ?? undefined };
  const url = ids.length === 1
    ? eventsUrl(`/jobs/${ids[0]}/events`, params)
    : eventsUrl("/events", { ...params, job: ids });
  const source = new EventSource(url);
  const pending = new Set(ids);
  const close = () => source.close();

  listen(source, "metric", (points) => handlers.metric?.(Array.isArray(points) ? points : [points]));
  listen(source, "log", (entry) => handlers.log?.(entry));
  listen(source, "status", (job) => {
    handlers.status?.(job);
    if (FINISHED.has(job.status)) pending.delete(Number(job.id));
    if (pending.size === 0) close();
  });
  source.addEventListener("open", () => handlers.open?.());
  return { close };
}

function listen(source, kind, fn) {
  source.addEventListener(kind, (ev) => {
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      console.warn(`ignored a ${kind} event whose data is not JSON`);
      return;
    }
    fn(data);
  });
}

/**
 * A function that learns a running job's total_steps (a status event carries null until training
 * starts): at most one GET per job at a time; onLearned(id, progress) gets the merged progress.
 * Only the progress is taken: a status event that arrived meanwhile is newer than the answer.
 */
export function totalLearner(onLearned) {
  const asking = new Set();
  return async (job) => {
    if (!job || !needsTotal(job) || asking.has(job.id)) return;
    asking.add(job.id);
    try {
      const fresh = await api(`/jobs/${job.id}`);
      onLearned(job.id, (known) => mergeJob(known, { ...known, progress: fresh.progress }).progress);
    } catch {
      // The next metric or status event asks again.
    } finally {
      asking.delete(job.id);
    }
  };
}
