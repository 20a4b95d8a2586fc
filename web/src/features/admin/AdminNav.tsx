import { NavLink } from "react-router";

export function AdminNav() {
  return (
    <nav aria-label="Admin" className="subnav">
      <NavLink to="/admin" end>
        Overview
      </NavLink>
      <NavLink to="/admin/jobs">All jobs</NavLink>
      <NavLink to="/admin/users">Users</NavLink>
    </nav>
  );
}
