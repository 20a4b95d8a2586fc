import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";

import { reconcile } from "./heard";
import { applyLiveEvent } from "./live";
import { jobQueries } from "./queries";
import type { JobView } from "./types";

function job(id: string, change: Partial<JobView> = {}): JobView {
  return {
    id,
    user_id: "u",
    status: "processing",
    progress: 10,
    original_filename: `${id}.mp4`,
    processing_options: {},
    error_message: null,
    created_at: null,
    started_at: null,
    completed_at: null,
    updated_at: "2026-01-01T00:00:00Z",
    attempts: 1,
    cancel_requested: false,
    batch_id: null,
    source_size: 1,
    metadata: { duration_s: null, width: null, height: null, video_codec: null, audio_codec: null, fps: null, bitrate: null },
    playback_url: null,
    outputs: [],
    ...change,
  } as JobView;
}

const firstPage = jobQueries.list({ sort: "created_at", order: "desc", limit: 20 }).queryKey;

function seeded(...jobs: JobView[]): QueryClient {
  const client = new QueryClient();
  client.setQueryData(firstPage, { items: jobs, next_cursor: null });
  for (const j of jobs) client.setQueryData(jobQueries.detail(j.id).queryKey, j);
  return client;
}

const items = (client: QueryClient) => client.getQueryData(firstPage)?.items ?? [];

describe("live events in the query cache", () => {
  it("moves the progress bar, stage and ETA of the job in every list and its page", () => {
    const client = seeded(job("a"), job("b"));
    applyLiveEvent(client, {
      event: "progress_update",
      id: "1",
      data: { job_id: "a", progress: 42, stage: "transcode", eta: 7 },
    });
    expect(items(client)[0]).toMatchObject({ progress: 42, stage: "transcode", eta_seconds: 7 });
    expect(items(client)[1]?.progress).toBe(10);
    expect(client.getQueryData(jobQueries.detail("a").queryKey)?.progress).toBe(42);
  });

  it("keeps a completed job at 100 when a tick arrives late", () => {
    const client = seeded(job("c"));
    const done = { job_id: "c", status: "completed", progress: 100, time: "2026-01-01T00:01:00Z" };
    applyLiveEvent(client, { event: "job_complete", id: "2", data: done });
    applyLiveEvent(client, { event: "progress_update", id: "3", data: { job_id: "c", progress: 96 } });
    expect(items(client)[0]).toMatchObject({ status: "completed", progress: 100 });
  });

  it("prefers the status heard live over an older read of the read model", () => {
    const client = seeded(job("d"));
    const failed = { job_id: "d", status: "failed", error_message: "bad", error_code: "x", time: "2026-01-01T00:02:00Z" };
    applyLiveEvent(client, { event: "error_notification", id: "4", data: failed });
    expect(reconcile(job("d", { updated_at: "2026-01-01T00:01:00Z" })).status).toBe("failed");
    expect(reconcile(job("d", { status: "pending", updated_at: "2026-01-01T00:03:00Z" })).status).toBe("pending");
  });
});
