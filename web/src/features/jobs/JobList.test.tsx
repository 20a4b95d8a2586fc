import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";

import { JobList } from "./JobList";

const base = {
  user_id: "u",
  processing_options: {},
  error_message: null,
  created_at: "2026-01-01T00:00:00Z",
  started_at: null,
  completed_at: null,
  updated_at: "2026-01-01T00:00:00Z",
  attempts: 1,
  cancel_requested: false,
  batch_id: null,
  source_size: 10,
  metadata: {},
  playback_url: null,
  outputs: [],
  stage: null,
  eta_seconds: null,
  queue_position: null,
  error_code: null,
};
const jobs = [
  { ...base, id: "j1", original_filename: "one.mp4", status: "processing", progress: 40, stage: "transcode", eta_seconds: 65 },
  { ...base, id: "j2", original_filename: "two.mp4", status: "pending", progress: 0, queue_position: 3 },
];

afterEach(() => vi.unstubAllGlobals());

function renderList() {
  const requests: Request[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request | string) => {
      if (typeof input === "string") return Response.json({ error: {} }, { status: 401 }); // no session
      requests.push(input);
      const url = new URL(input.url);
      if (url.pathname === "/jobs/bulk") {
        const body = (await input.clone().json()) as { job_ids: string[] };
        return Response.json({ results: body.job_ids.map((job_id) => ({ job_id, ok: true })) });
      }
      return Response.json({ items: jobs, next_cursor: "next" });
    }),
  );
  const router = createMemoryRouter([{ path: "/jobs", element: <JobList /> }], { initialEntries: ["/jobs"] });
  render(
    <QueryClientProvider client={new QueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return requests;
}

describe("JobList", () => {
  it("shows each job's status, stage, progress, ETA and queue position", async () => {
    renderList();
    const bar = await screen.findByRole("progressbar", { name: "Progress of one.mp4" });
    expect(bar).toHaveAttribute("aria-valuenow", "40");
    const first = screen.getByRole("link", { name: "one.mp4" }).closest("li") as HTMLElement;
    expect(within(first).getByText("stage: transcode")).toBeInTheDocument();
    expect(within(first).getByText("ETA 1 min 5 s")).toBeInTheDocument();
    expect(screen.getByText("queue position 3")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next page" })).toBeEnabled();
  });

  it("filters through the query string and cancels the selected jobs in one request", async () => {
    const user = userEvent.setup();
    const requests = renderList();
    await screen.findByRole("link", { name: "two.mp4" });
    await user.type(screen.getByRole("searchbox", { name: "Search by file name" }), "tw");
    await waitFor(() => expect(requests.some((r) => new URL(r.url).searchParams.get("q") === "tw")).toBe(true));
    await user.click(screen.getByRole("checkbox", { name: "Select two.mp4" }));
    expect(screen.getByText("1 selected")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Cancel selected" }));
    await waitFor(() => expect(screen.getByText("0 selected")).toBeInTheDocument());
    const bulk = requests.find((r) => new URL(r.url).pathname === "/jobs/bulk");
    expect(await bulk?.json()).toEqual({ action: "cancel", job_ids: ["j2"] });
  });

  it("sorts and pages through the cursor the server gave", async () => {
    const user = userEvent.setup();
    const requests = renderList();
    await screen.findByRole("link", { name: "one.mp4" });
    await user.click(screen.getByRole("button", { name: /Sort by/ }));
    await user.click(await screen.findByRole("option", { name: "File name" }));
    await waitFor(() =>
      expect(requests.some((r) => new URL(r.url).searchParams.get("sort") === "filename")).toBe(true),
    );
    await user.click(screen.getByRole("button", { name: "Next page" }));
    await waitFor(() =>
      expect(requests.some((r) => new URL(r.url).searchParams.get("cursor") === "next")).toBe(true),
    );
    expect(screen.getByText("Page 2")).toBeInTheDocument();
  });
});
