/** Live events land in TanStack Query's cache: the lists and the job page update in place. */
import type { QueryClient } from "@tanstack/react-query";

import type { JobView } from "../features/jobs/types";
import type { LiveEvent } from "./events";

interface Paged {
  items: JobView[];
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function applyLiveEvent(client: QueryClient, { event, data }: LiveEvent): void {
  const patch: Partial<JobView> = {};
  if (typeof data.progress === "number") patch.progress = data.progress;
  if (event === "progress_update") {
    patch.status = "processing";
    patch.queue_position = null;
    if (data.stage !== undefined) patch.stage = data.stage;
    if (data.eta !== undefined) patch.eta_seconds = data.eta;
  } else if (data.status) {
    patch.status = data.status as JobView["status"];
  }
  if (event === "error_notification") {
    patch.error_message = data.error_message ?? null;
    patch.error_code = data.error_code ?? null;
  }
  const update = (job: JobView): JobView => (job.id === data.job_id ? { ...job, ...patch } : job);
  client.setQueriesData<Paged>({ queryKey: ["jobs"] }, (old) =>
    old ? { ...old, items: old.items.map(update) } : old,
  );
  client.setQueryData<JobView>(["job", data.job_id], (old) => (old ? update(old) : old));
  // a change of status brings new fields (outputs, URLs, history, positions): read them again
  if (event !== "progress_update" && !data.snapshot) {
    void client.invalidateQueries({ queryKey: ["job", data.job_id] });
    void client.invalidateQueries({ queryKey: ["history", data.job_id] });
    void client.invalidateQueries({ queryKey: ["jobs"] });
    if (data.status && TERMINAL.has(data.status)) {
      void client.invalidateQueries({ queryKey: ["admin"] });
    }
  }
}
