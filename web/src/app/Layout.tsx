import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { Button } from "react-aria-components";
import { Navigate, NavLink, Outlet, useLocation, useNavigate } from "react-router";

import { session } from "../auth/session";
import { useSession } from "../auth/useSession";
import { Notifications } from "../components/Notifications";
import { jobQueries } from "../features/jobs/queries";
import { UploadsProvider } from "../features/upload/UploadsProvider";
import { LiveEvents } from "./LiveEvents";

/** Restores a session from the refresh cookie once per page load. */
let restoring: Promise<unknown> | null = null;
function useRestoredSession(): boolean {
  const [done, setDone] = useState(false);
  useEffect(() => {
    restoring ??= session.refresh().catch(() => null);
    let live = true;
    void restoring.then(() => {
      if (live) setDone(true);
    });
    return () => {
      live = false;
    };
  }, []);
  return done;
}

export function Layout() {
  const ready = useRestoredSession();
  const current = useSession();
  const navigate = useNavigate();
  const client = useQueryClient();
  const logout = async () => {
    await session.logout();
    client.clear();
    await navigate("/login");
  };
  const onUploaded = useCallback(() => void client.invalidateQueries({ queryKey: jobQueries.lists() }), [client]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <NavLink to="/jobs" className="brand">
          vidpipe
        </NavLink>
        {current && (
          <nav aria-label="Main">
            <NavLink to="/jobs" end>
              Jobs
            </NavLink>
            <NavLink to="/upload">Upload</NavLink>
            {current.user.role === "admin" && <NavLink to="/admin">Admin</NavLink>}
          </nav>
        )}
        {current && (
          <div className="who">
            <span aria-label="Signed in as">{current.user.username}</span>
            <Button onPress={() => void logout()}>Log out</Button>
          </div>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {!ready ? (
          <p role="status">Loading…</p>
        ) : current ? (
          <UploadsProvider key={current.user.id} onUploaded={onUploaded}>
            <Outlet />
          </UploadsProvider>
        ) : (
          <Outlet />
        )}
      </main>
      {current && <LiveEvents key={current.user.id} />}
      <Notifications />
    </>
  );
}

export function RequireSession() {
  const current = useSession();
  const location = useLocation();
  if (!current) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return <Outlet />;
}

export function RequireAdmin() {
  const current = useSession();
  if (current?.user.role !== "admin") {
    return (
      <>
        <h1>Admins only</h1>
        <p>This page needs the admin role.</p>
      </>
    );
  }
  return <Outlet />;
}
