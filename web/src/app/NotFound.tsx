import { Link } from "react-router";

import { usePageTitle } from "../components/usePageTitle";

export function NotFound() {
  usePageTitle("Not found");
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <Link to="/jobs">Go to your jobs</Link>
      </p>
    </>
  );
}
