/** The admin API (role admin only): overview and users (retrying failed jobs is in features/jobs). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, unwrap } from "../../api/client";
import { adminQueries } from "./queries";

export function useOverview() {
  return useQuery(adminQueries.overview());
}

export type Overview = NonNullable<ReturnType<typeof useOverview>["data"]>;

export function useUsers() {
  return useQuery(adminQueries.users());
}

export function useUpdateUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, change }: { id: string; change: { role?: "admin" | "user"; disabled?: boolean } }) =>
      unwrap(await api.PATCH("/admin/users/{user_id}", { params: { path: { user_id: id } }, body: change })),
    onSettled: () => client.invalidateQueries({ queryKey: adminQueries.users().queryKey }),
  });
}
