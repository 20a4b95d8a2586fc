/**
 * Live events land in TanStack Query's cache: the lists and the job page update in place.
 *
 * Two orderings are not guaranteed and are handled here: a job's progress ticks and its
 * lifecycle events travel on two topics (a tick may arrive after `completed`), and the read
 * model may lag the stream (a refetch right after `completed` can still say `processing`).
 * So the last lifecycle status heard live wins over older reads, and ticks never reopen a
 * finished job.
 */
import type { QueryClient } from "@tanstack/react-query";

import type { LiveEvent } from "../../live/events";
import { refreshJob } from "./api";
import { hear, lastHeard, ms, TERMINAL } from "./heard";
import { jobQueries, type JobsPage } from "./queries";
import type { JobView } from "./types";

export function applyLiveEvent(client: QueryClient, { event, data }: LiveEvent): void {
  const id = data.job_id;
  const known = lastHeard(id);
  if (event === "progress_update" && known && TERMINAL.has(known.status)) return; // a late tick
  const patch: Partial<JobView> = {};
  if (typeof data.progress === "number") patch.progress = data.progress;
  if (event === "progress_update") {
    patch.status = "processing";
    patch.queue_position = null;
    if (data.stage !== undefined) patch.stage = data.stage;
    if (data.eta !== undefined) patch.eta_seconds = data.eta;
  } else if (data.status) {
    patch.status = data.status as JobView["status"];
    const time = ms(data.time) || Date.now();
    hear(id, { status: patch.status, ...(patch.progress !== undefined && { progress: patch.progress }), time });
  }
  if (event === "error_notification") {
    patch.error_message = data.error_message ?? null;
    patch.error_code = data.error_code ?? null;
  }
  const update = (job: JobView): JobView => {
    if (job.id !== id) return job;
    if (event === "progress_update" && TERMINAL.has(job.status)) return job;
    return { ...job, ...patch };
  };
  client.setQueriesData<JobsPage>({ queryKey: jobQueries.lists() }, (old) =>
    old ? { ...old, items: old.items.map(update) } : old,
  );
  client.setQueryData(jobQueries.detail(id).queryKey, (old) => (old ? update(old) : old));
  // a change of status brings new fields (outputs, URLs, history, positions): read them again
  if (event !== "progress_update" && !data.snapshot) {
    const refresh = () => refreshJob(client, id);
    refresh();
    setTimeout(refresh, 1500); // the read model may still be behind the stream on the first read
  }
}

/** A live (not replayed) event that ends a job: what other views (the admin's) refresh on. */
export function endsJob({ event, data }: LiveEvent): boolean {
  return event !== "progress_update" && !data.snapshot && !!data.status && TERMINAL.has(data.status);
}
