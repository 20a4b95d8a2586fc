/** The admin feature's queries: each key is made here and nowhere else. */
import { queryOptions } from "@tanstack/react-query";

import { api, unwrap } from "../../api/client";

export const adminQueries = {
  /** Every admin figure (refreshed when a job ends). */
  all: () => ["admin"] as const,
  overview: () =>
    queryOptions({
      queryKey: [...adminQueries.all(), "overview"] as const,
      queryFn: async () => unwrap(await api.GET("/admin/overview")),
      refetchInterval: 5_000,
    }),
  users: () =>
    queryOptions({
      queryKey: [...adminQueries.all(), "users"] as const,
      queryFn: async () => unwrap(await api.GET("/admin/users")).items,
    }),
};
