/** Notifications for jobs that finished, on any page. */
import type { QueryClient } from "@tanstack/react-query";

import { api } from "../../api/client";
import { notify } from "../../components/notifications";
import type { LiveEvent } from "../../live/events";
import { jobQueries, type JobsPage } from "./queries";

/** The job's file name, from the cache or else the API (a job may finish before any page
 * showed it). */
async function filenameOf(client: QueryClient, jobId: string): Promise<string> {
  const job = client.getQueryData(jobQueries.detail(jobId).queryKey);
  if (job) return job.original_filename;
  for (const [, list] of client.getQueriesData<JobsPage>({ queryKey: jobQueries.lists() })) {
    const found = list?.items.find((item) => item.id === jobId);
    if (found) return found.original_filename;
  }
  const read = await api.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } }).catch(() => null);
  return read?.data?.original_filename ?? `Job ${jobId.slice(0, 8)}`;
}

/** `job_complete` and `error_notification` (not snapshots) raise a notification. */
export function notifyOutcome(client: QueryClient, event: LiveEvent): void {
  if (event.data.snapshot) return;
  if (event.event !== "job_complete" && event.event !== "error_notification") return;
  const href = `/jobs/${event.data.job_id}`;
  void filenameOf(client, event.data.job_id).then((name) => {
    if (event.event === "job_complete") {
      notify({ tone: "success", text: `${name} is ready`, href });
    } else {
      const why = event.data.error_message ?? "unknown error";
      notify({ tone: "error", text: `${name} failed: ${why}`, href }, 15_000);
    }
  });
}
