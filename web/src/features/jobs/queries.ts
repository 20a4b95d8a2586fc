/** The jobs feature's queries: each key is made here and nowhere else. */
import { keepPreviousData, queryOptions } from "@tanstack/react-query";

import { api, unwrap, type HistoryEntry } from "../../api/client";
import { reconcile } from "./heard";
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

const path = (jobId: string) => ({ params: { path: { job_id: jobId } } });

export const jobQueries = {
  /** Every query of the feature. */
  all: () => ["jobs"] as const,
  /** Every page of every job list (yours, everyone's; any filter). */
  lists: () => [...jobQueries.all(), "list"] as const,
  list: (query: JobsQuery) =>
    queryOptions({
      queryKey: [...jobQueries.lists(), query] as const,
      queryFn: async (): Promise<JobsPage> => {
        const params = { ...query, q: query.q || undefined, all: query.all ? true : undefined };
        const page = unwrap(await api.GET("/jobs", { params: { query: params } }));
        return { ...page, items: page.items.map(reconcile) };
      },
      placeholderData: keepPreviousData,
    }),
  detail: (jobId: string) =>
    queryOptions({
      queryKey: [...jobQueries.all(), "detail", jobId] as const,
      queryFn: async (): Promise<JobView> => reconcile(unwrap(await api.GET("/jobs/{job_id}", path(jobId)))),
    }),
  history: (jobId: string) =>
    queryOptions({
      queryKey: [...jobQueries.all(), "history", jobId] as const,
      queryFn: async (): Promise<HistoryEntry[]> =>
        unwrap(await api.GET("/jobs/{job_id}/history", path(jobId))).items,
    }),
};
