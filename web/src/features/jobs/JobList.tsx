import { useState, type ReactNode } from "react";
import { Button } from "react-aria-components";
import { Link } from "react-router";

import { Alert } from "../../components/fields";
import { useJobs } from "./api";
import { BulkBar } from "./BulkBar";
import { JobFilters } from "./JobFilters";
import { JobTable } from "./JobTable";
import { useListParams } from "./useListParams";

const PAGE_SIZE = 20;

/** Filters, bulk actions, one page of jobs and the pager; the page cursor stack and the
 * selection are UI state, the filters live in the URL. */
export function JobList({ all = false, extraActions }: { all?: boolean; extraActions?: ReactNode }) {
  const { value, set } = useListParams();
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const cursor = cursors[cursors.length - 1];
  const jobs = useJobs({ ...value, cursor, all, limit: PAGE_SIZE });
  const items = jobs.data?.items ?? [];
  const toggle = (id: string, on: boolean) =>
    setSelected((old) => {
      const copy = new Set(old);
      if (on) copy.add(id);
      else copy.delete(id);
      return copy;
    });
  const page = (next: (old: (string | undefined)[]) => (string | undefined)[]) => {
    setCursors(next);
    setSelected(new Set());
  };

  return (
    <div className="stack">
      <JobFilters
        value={value}
        onChange={(key, next) => {
          set(key, next);
          page(() => [undefined]);
        }}
      />
      <BulkBar items={items} selected={selected} onSelect={setSelected} extraActions={extraActions} />

      {jobs.error && <Alert>{jobs.error.message}</Alert>}
      {jobs.isPending && <p role="status">Loading jobs…</p>}
      {jobs.isSuccess && items.length === 0 && (
        <p>
          No jobs {value.q || value.status ? "match these filters" : "yet"}.{" "}
          {!all && <Link to="/upload">Upload a video</Link>}
        </p>
      )}
      <JobTable items={items} showOwner={all} selected={selected} onToggle={toggle} />

      <nav className="row pager" aria-label="Pages">
        <Button isDisabled={cursors.length <= 1} onPress={() => page((old) => old.slice(0, -1))}>
          Previous page
        </Button>
        <span>Page {cursors.length}</span>
        <Button
          isDisabled={!jobs.data?.next_cursor}
          onPress={() => {
            const next = jobs.data?.next_cursor ?? undefined;
            page((old) => [...old, next]);
          }}
        >
          Next page
        </Button>
      </nav>
    </div>
  );
}
