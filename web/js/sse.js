// Live events over one EventSource: metric batches, status changes and log lines.
// EventSource itself reconnects with Last-Event-ID, so the server resumes without gaps or repeats.
import { eventsUrl } from "./api.js";

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
