import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { session } from "../auth/session";
import { notify } from "../components/notifications";
import { applyLiveEvent } from "./cache";
import { openLiveEvents, type LiveEvent } from "./events";

function filenameOf(client: ReturnType<typeof useQueryClient>, jobId: string): string {
  const job = client.getQueryData<{ original_filename: string }>(["job", jobId]);
  if (job) return job.original_filename;
  for (const [, list] of client.getQueriesData<{ items: { id: string; original_filename: string }[] }>({
    queryKey: ["jobs"],
  })) {
    const found = list?.items.find((item) => item.id === jobId);
    if (found) return found.original_filename;
  }
  return `Job ${jobId.slice(0, 8)}`;
}

/** The tab's one live stream, for as long as someone is signed in; notifies on outcomes. */
export function LiveEvents() {
  const client = useQueryClient();
  useEffect(() => {
    const onEvent = (event: LiveEvent) => {
      applyLiveEvent(client, event);
      if (event.data.snapshot) return;
      const name = filenameOf(client, event.data.job_id);
      const href = `/jobs/${event.data.job_id}`;
      if (event.event === "job_complete") {
        notify({ tone: "success", text: `${name} is ready`, href });
      } else if (event.event === "error_notification") {
        const why = event.data.error_message ?? "unknown error";
        notify({ tone: "error", text: `${name} failed: ${why}`, href }, 15_000);
      }
    };
    return openLiveEvents({ session, onEvent });
  }, [client]);
  return null;
}
