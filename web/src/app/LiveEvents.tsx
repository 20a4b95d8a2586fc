import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { session } from "../auth/session";
import { adminQueries } from "../features/admin/queries";
import { applyLiveEvent, endsJob } from "../features/jobs/live";
import { notifyOutcome } from "../features/jobs/outcomes";
import { openLiveEvents } from "../live/events";

/** The tab's one live stream, for as long as someone is signed in: events update the jobs in
 * the cache (and the admin's figures when a job ends) and notify on outcomes. */
export function LiveEvents() {
  const client = useQueryClient();
  useEffect(
    () =>
      openLiveEvents({
        session,
        onEvent: (event) => {
          applyLiveEvent(client, event);
          if (endsJob(event)) void client.invalidateQueries({ queryKey: adminQueries.all() });
          notifyOutcome(client, event);
        },
      }),
    [client],
  );
  return null;
}
