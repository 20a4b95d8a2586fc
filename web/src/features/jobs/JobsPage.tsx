import { Link } from "react-router";

import { usePageTitle } from "../../components/usePageTitle";
import { JobList } from "./JobList";

export function JobsPage() {
  usePageTitle("Your jobs");
  return (
    <>
      <div className="row spread">
        <h1>Your jobs</h1>
        <Link className="button primary" to="/upload">
          Upload videos
        </Link>
      </div>
      <JobList />
    </>
  );
}
