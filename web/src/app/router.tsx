import { createBrowserRouter, Navigate } from "react-router";

import { AdminJobsPage } from "../features/admin/AdminJobsPage";
import { AdminOverviewPage } from "../features/admin/AdminOverviewPage";
import { AdminUsersPage } from "../features/admin/AdminUsersPage";
import { LoginPage, RegisterPage } from "../features/auth/AuthPages";
import { JobPage } from "../features/jobs/JobPage";
import { JobsPage } from "../features/jobs/JobsPage";
import { UploadPage } from "../features/upload/UploadPage";
import { Layout, RequireAdmin, RequireSession } from "./Layout";
import { NotFound } from "./NotFound";

/** App routes: every one is also served index.html by the server (see docs/web.md). */
export const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { path: "/login", element: <LoginPage /> },
      { path: "/register", element: <RegisterPage /> },
      {
        element: <RequireSession />,
        children: [
          { path: "/", element: <Navigate to="/jobs" replace /> },
          { path: "/jobs", element: <JobsPage /> },
          { path: "/jobs/:jobId", element: <JobPage /> },
          { path: "/upload", element: <UploadPage /> },
          {
            element: <RequireAdmin />,
            children: [
              { path: "/admin", element: <AdminOverviewPage /> },
              { path: "/admin/jobs", element: <AdminJobsPage /> },
              { path: "/admin/users", element: <AdminUsersPage /> },
            ],
          },
        ],
      },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
