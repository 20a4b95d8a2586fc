/** The jobs feature's server state: its queries (keys in queries.ts) and mutations. */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";

import { api, unwrap } from "../../api/client";
import { jobQueries, type JobsQuery } from "./queries";

export function useJobs(query: JobsQuery) {
  return useQuery(jobQueries.list(query));
}

export function useJob(jobId: string) {
  return useQuery(jobQueries.detail(jobId));
}

export function useHistory(jobId: string) {
  return useQuery(jobQueries.history(jobId));
}

/** A job changed: read it, its history and the lists again. */
export function refreshJob(client: QueryClient, jobId: string): void {
  void client.invalidateQueries({ queryKey: jobQueries.detail(jobId).queryKey });
  void client.invalidateQueries({ queryKey: jobQueries.history(jobId).queryKey });
  void client.invalidateQueries({ queryKey: jobQueries.lists() });
}

export type JobAction = "cancel" | "retry" | "delete";

async function act(jobId: string, action: JobAction | "reprocess", preset?: string): Promise<void> {
  const path = { params: { path: { job_id: jobId } } };
  if (action === "delete") unwrap(await api.DELETE("/jobs/{job_id}", path));
  else if (action === "cancel") unwrap(await api.POST("/jobs/{job_id}/cancel", path));
  else if (action === "retry") unwrap(await api.POST("/jobs/{job_id}/retry", path));
  else
    unwrap(
      await api.POST("/jobs/{job_id}/reprocess", {
        ...path,
        body: preset ? { options: { preset } } : {},
      }),
    );
}

export function useJobAction(jobId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ action, preset }: { action: JobAction | "reprocess"; preset?: string }) =>
      act(jobId, action, preset),
    onSettled: () => refreshJob(client, jobId),
  });
}

export interface BulkResult {
  job_id: string;
  ok: boolean;
  error?: string | null;
}

export function useBulkAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ action, ids }: { action: JobAction; ids: string[] }) =>
      unwrap(await api.POST("/jobs/bulk", { body: { action, job_ids: ids } })).results as BulkResult[],
    onSettled: () => client.invalidateQueries({ queryKey: jobQueries.lists() }),
  });
}

/** Retries failed jobs, every user's (admins only): the given ones, or all of them. */
export function useRetryFailed() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (ids?: string[]) =>
      unwrap(await api.POST("/admin/jobs/retry-failed", { body: ids ? { job_ids: ids } : {} })),
    onSettled: () => client.invalidateQueries({ queryKey: jobQueries.lists() }),
  });
}
