/** The jobs feature's server state: queries and mutations over the typed client. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, unwrap, type HistoryEntry } from "../../api/client";
import { reconcile } from "./live";
import type { JobView, Status } from "./types";

export const SORTS = ["created_at", "updated_at", "filename", "status"] as const;
export type Sort = (typeof SORTS)[number];

export interface JobsQuery {
  status?: Status | undefined;
  q?: string | undefined;
  sort: Sort;
  order: "asc" | "desc";
  cursor?: string | undefined;
  all?: boolean;
  limit: number;
}

export interface JobsPage {
  items: JobView[];
  next_cursor: string | null;
}

export function useJobs(query: JobsQuery) {
  return useQuery({
    queryKey: ["jobs", query],
    queryFn: async (): Promise<JobsPage> => {
      const params = {
        ...query,
        q: query.q || undefined,
        all: query.all ? true : undefined,
      };
      const page = unwrap(await api.GET("/jobs", { params: { query: params } }));
      return { ...page, items: page.items.map(reconcile) };
    },
    placeholderData: keepPreviousData,
  });
}

export function useJob(jobId: string) {
  return useQuery({
    queryKey: ["job", jobId],
    queryFn: async (): Promise<JobView> =>
      reconcile(unwrap(await api.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } }))),
  });
}

export function useHistory(jobId: string) {
  return useQuery({
    queryKey: ["history", jobId],
    queryFn: async (): Promise<HistoryEntry[]> =>
      unwrap(await api.GET("/jobs/{job_id}/history", { params: { path: { job_id: jobId } } }))
        .items,
  });
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
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["job", jobId] });
      void client.invalidateQueries({ queryKey: ["history", jobId] });
      void client.invalidateQueries({ queryKey: ["jobs"] });
    },
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
    onSettled: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
}

/** Retries failed jobs, every user's (admins only): the given ones, or all of them. */
export function useRetryFailed() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (ids?: string[]) =>
      unwrap(await api.POST("/admin/jobs/retry-failed", { body: ids ? { job_ids: ids } : {} })),
    onSettled: () => client.invalidateQueries({ queryKey: ["jobs"] }),
  });
}
