import { Button } from "react-aria-components";

import { notify } from "../../components/notifications";
import { usePageTitle } from "../../components/usePageTitle";
import { JobList } from "../jobs";
import { AdminNav } from "./AdminNav";
import { useRetryFailed } from "./api";

export function AdminJobsPage() {
  usePageTitle("All jobs");
  const retry = useRetryFailed();
  return (
    <div className="stack">
      <h1>All jobs</h1>
      <AdminNav />
      <JobList
        all
        extraActions={
          <Button
            isDisabled={retry.isPending}
            onPress={() =>
              retry.mutate(undefined, {
                onSuccess: () => notify({ tone: "success", text: "Every failed job is being retried" }),
                onError: (error) => notify({ tone: "error", text: error.message }),
              })
            }
          >
            Retry all failed
          </Button>
        }
      />
    </div>
  );
}
