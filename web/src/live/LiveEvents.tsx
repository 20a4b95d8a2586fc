import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { api } from "../api/client";
import { session } from "../auth/session";
import { notify } from "../components/notifications";
import { applyLiveEvent } from "./cache";
import { openLiveEvents, type LiveEvent } from "./events";

/** The job's file name, from the cache or else the API (a job may finish before any page
 * showed it). */
async function filenameOf(client: ReturnType<typeof useQueryClient>, jobId: string): Promise<string> {
  const job = client.getQueryData<{ original_filename: string }>(["job", jobId]);
  if (job) return job.original_filename;
  for (const [, list] of client.getQueriesData<{ items: { id: string; original_filename: string }[] }>({
    queryKey: ["jobs"],
  })) {
    const found = list?.items.find((item) => item.id === jobId);
    if (found) return found.original_filename;
  }
  const read = await api.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } }).catch(() => null);
  return read?.data?.original_filename ?? `Job ${jobId.slice(0, 8)}`;
}

/** The tab's one live stream, for as long as someone is signed in; notifies on outcomes. */
export function LiveEvents() {
  const client = useQueryClient();
  useEffect(() => {
    const onEvent = (event: LiveEvent) => {
      applyLiveEvent(client, event);
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
    };
    return openLiveEvents({ session, onEvent });
  }, [client]);
  return null;
}
