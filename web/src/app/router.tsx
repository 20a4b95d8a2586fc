import { createBrowserRouter, Navigate } from "react-router";

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
              // loaded on first visit: most people never open them
              {
                path: "/admin",
                lazy: async () => ({ Component: (await import("../features/admin/AdminOverviewPage")).AdminOverviewPage }),
              },
              {
                path: "/admin/jobs",
                lazy: async () => ({ Component: (await import("./routes/AdminJobsPage")).AdminJobsPage }),
              },
              {
                path: "/admin/users",
                lazy: async () => ({ Component: (await import("../features/admin/AdminUsersPage")).AdminUsersPage }),
              },
            ],
          },
        ],
      },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
