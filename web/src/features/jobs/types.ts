import type { Job } from "../../api/client";

export const STATUSES = ["pending", "processing", "completed", "failed", "cancelled"] as const;
export type Status = (typeof STATUSES)[number];

/** A job as the UI shows it: the API's Job with the fields the web app's routes add. */
export type JobView = Job & {
  stage?: string | null;
  eta_seconds?: number | null;
  queue_position?: number | null;
  error_code?: string | null;
  username?: string | null;
};
