/** The admin API (role admin only): overview and users (retrying failed jobs is in features/jobs). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, unwrap } from "../../api/client";

export function useOverview() {
  return useQuery({
    queryKey: ["admin", "overview"],
    queryFn: async () => unwrap(await api.GET("/admin/overview")),
    refetchInterval: 5_000,
  });
}

export type Overview = NonNullable<ReturnType<typeof useOverview>["data"]>;

export function useUsers() {
  return useQuery({
    queryKey: ["admin", "users"],
    queryFn: async () => unwrap(await api.GET("/admin/users")).items,
  });
}

export function useUpdateUser() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, change }: { id: string; change: { role?: "admin" | "user"; disabled?: boolean } }) =>
      unwrap(await api.PATCH("/admin/users/{user_id}", { params: { path: { user_id: id } }, body: change })),
    onSettled: () => client.invalidateQueries({ queryKey: ["admin", "users"] }),
  });
}
