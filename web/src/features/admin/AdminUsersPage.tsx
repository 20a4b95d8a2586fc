import { Button } from "react-aria-components";

import { useSession } from "../../auth/useSession";
import { Alert } from "../../components/fields";
import { formatTime } from "../../components/format";
import { notify } from "../../components/notifications";
import { usePageTitle } from "../../components/usePageTitle";
import { AdminNav } from "./AdminNav";
import { useUpdateUser, useUsers } from "./api";

export function AdminUsersPage() {
  usePageTitle("Users");
  const users = useUsers();
  const update = useUpdateUser();
  const me = useSession()?.user.id;
  const change = (id: string, name: string, body: { role?: "admin" | "user"; disabled?: boolean }) =>
    update.mutate(
      { id, change: body },
      {
        onSuccess: () => notify({ tone: "success", text: `${name} updated` }),
        onError: (error) => notify({ tone: "error", text: error.message }),
      },
    );
  return (
    <div className="stack">
      <h1>Users</h1>
      <AdminNav />
      {users.error && <Alert>{users.error.message}</Alert>}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Jobs</th>
              <th scope="col">Since</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.data?.map((user) => (
              <tr key={user.id} data-disabled={user.disabled}>
                <th scope="row">{user.username}</th>
                <td className="break">{user.email}</td>
                <td>
                  {user.role}
                  {user.disabled ? " (disabled)" : ""}
                </td>
                <td>{user.jobs}</td>
                <td>{formatTime(user.created_at)}</td>
                <td className="row wrap">
                  <Button
                    isDisabled={user.id === me || update.isPending}
                    onPress={() =>
                      change(user.id, user.username, { role: user.role === "admin" ? "user" : "admin" })
                    }
                  >
                    {user.role === "admin" ? `Revoke admin from ${user.username}` : `Make ${user.username} admin`}
                  </Button>
                  <Button
                    className={user.disabled ? undefined : "danger"}
                    isDisabled={user.id === me || update.isPending}
                    onPress={() => change(user.id, user.username, { disabled: !user.disabled })}
                  >
                    {user.disabled ? `Enable ${user.username}` : `Disable ${user.username}`}
                  </Button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
