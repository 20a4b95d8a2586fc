import { usePageTitle } from "../../components/usePageTitle";
import { AdminNav } from "../../features/admin/AdminNav";
import { JobList } from "../../features/jobs/JobList";
import { RetryFailedButton } from "../../features/jobs/RetryFailedButton";

/** Every user's jobs: the admin's navigation around the jobs feature's list. */
export function AdminJobsPage() {
  usePageTitle("All jobs");
  return (
    <div className="stack">
      <h1>All jobs</h1>
      <AdminNav />
      <JobList all extraActions={<RetryFailedButton />} />
    </div>
  );
}
