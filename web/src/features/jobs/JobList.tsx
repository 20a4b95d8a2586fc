import { useState } from "react";
import { Button, CheckboxButton, CheckboxField, Input, Label, SearchField } from "react-aria-components";
import { Link, useSearchParams } from "react-router";

import { Alert } from "../../components/fields";
import { Choose, Confirm, Progress, StatusBadge } from "../../components/controls";
import { formatDuration, formatTime } from "../../components/format";
import { notify } from "../../components/notifications";
import { useBulkAction, useJobs, type JobAction } from "./api";
import { SORTS, type Sort } from "./queries";
import { STATUSES, type JobView, type Status } from "./types";

const PAGE_SIZE = 20;
const SORT_LABELS: Record<Sort, string> = {
  created_at: "Created",
  updated_at: "Updated",
  filename: "File name",
  status: "Status",
};

/** Filters live in the URL (shareable, survive a reload); the page cursor stack in state. */
function useListParams() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status");
  const sort = params.get("sort");
  const value = {
    status: STATUSES.includes(status as Status) ? (status as Status) : undefined,
    q: params.get("q") ?? "",
    sort: SORTS.includes(sort as Sort) ? (sort as Sort) : "created_at",
    order: params.get("order") === "asc" ? ("asc" as const) : ("desc" as const),
  };
  const set = (key: string, next: string | undefined) =>
    setParams(
      (old) => {
        const copy = new URLSearchParams(old);
        if (next) copy.set(key, next);
        else copy.delete(key);
        return copy;
      },
      { replace: true },
    );
  return { value, set };
}

export function JobList({ all = false, extraActions }: { all?: boolean; extraActions?: React.ReactNode }) {
  const { value, set } = useListParams();
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const cursor = cursors[cursors.length - 1];
  const jobs = useJobs({ ...value, cursor, all, limit: PAGE_SIZE });
  const bulk = useBulkAction();
  const items = jobs.data?.items ?? [];

  const resetPaging = () => {
    setCursors([undefined]);
    setSelected(new Set());
  };
  const runBulk = (action: JobAction) => {
    const ids = [...selected];
    bulk.mutate(
      { action, ids },
      {
        onSuccess: (results) => {
          const failed = results.filter((r) => !r.ok);
          const done = results.length - failed.length;
          notify({
            tone: failed.length ? "error" : "success",
            text:
              `${action}: ${done} of ${results.length} done` +
              (failed.length ? ` (${failed.map((r) => r.error ?? "refused").join("; ")})` : ""),
          });
          setSelected(new Set());
        },
        onError: (error) => notify({ tone: "error", text: error.message }),
      },
    );
  };
  const toggle = (id: string, on: boolean) =>
    setSelected((old) => {
      const copy = new Set(old);
      if (on) copy.add(id);
      else copy.delete(id);
      return copy;
    });
  const allSelected = items.length > 0 && items.every((job) => selected.has(job.id));

  return (
    <div className="stack">
      <div className="filters" role="search">
        <SearchField
          className="field"
          defaultValue={value.q}
          onSubmit={(q) => {
            set("q", q);
            resetPaging();
          }}
          onClear={() => {
            set("q", undefined);
            resetPaging();
          }}
          onChange={(q) => {
            set("q", q || undefined);
            resetPaging();
          }}
        >
          <Label>Search by file name</Label>
          <Input />
        </SearchField>
        <Choose
          label="Status"
          value={value.status ?? "any"}
          choices={[{ id: "any", label: "Any status" }, ...STATUSES.map((s) => ({ id: s, label: s }))]}
          onChange={(s) => {
            set("status", s === "any" ? undefined : s);
            resetPaging();
          }}
        />
        <Choose
          label="Sort by"
          value={value.sort}
          choices={SORTS.map((s) => ({ id: s, label: SORT_LABELS[s] }))}
          onChange={(s) => {
            set("sort", s === "created_at" ? undefined : s);
            resetPaging();
          }}
        />
        <Choose
          label="Order"
          value={value.order}
          choices={[
            { id: "desc", label: "Descending" },
            { id: "asc", label: "Ascending" },
          ]}
          onChange={(o) => {
            set("order", o === "desc" ? undefined : o);
            resetPaging();
          }}
        />
      </div>

      <div className="bulk" aria-label="Bulk actions" role="toolbar">
        <CheckboxField
          isSelected={allSelected}
          isIndeterminate={!allSelected && selected.size > 0}
          onChange={(on) => setSelected(on ? new Set(items.map((job) => job.id)) : new Set())}
          isDisabled={items.length === 0}
        >
          <CheckboxButton className="checkbox">
            <span className="check" aria-hidden="true" />
            Select all on this page
          </CheckboxButton>
        </CheckboxField>
        <span aria-live="polite">{selected.size} selected</span>
        <Button isDisabled={!selected.size || bulk.isPending} onPress={() => runBulk("retry")}>
          Retry selected
        </Button>
        <Button isDisabled={!selected.size || bulk.isPending} onPress={() => runBulk("cancel")}>
          Cancel selected
        </Button>
        <Confirm
          label="Delete selected"
          title={`Delete ${selected.size} job${selected.size === 1 ? "" : "s"}?`}
          confirmLabel="Delete"
          isDisabled={!selected.size || bulk.isPending}
          onConfirm={() => runBulk("delete")}
        >
          Their sources and outputs are removed. This cannot be undone.
        </Confirm>
        {extraActions}
      </div>

      {jobs.error && <Alert>{jobs.error.message}</Alert>}
      {jobs.isPending && <p role="status">Loading jobs…</p>}
      {jobs.isSuccess && items.length === 0 && (
        <p>
          No jobs {value.q || value.status ? "match these filters" : "yet"}.{" "}
          {!all && <Link to="/upload">Upload a video</Link>}
        </p>
      )}
      <ul className="jobs" aria-label="Jobs">
        {items.map((job) => (
          <JobRow
            key={job.id}
            job={job}
            showOwner={all}
            selected={selected.has(job.id)}
            onSelect={(on) => toggle(job.id, on)}
          />
        ))}
      </ul>

      <nav className="row pager" aria-label="Pages">
        <Button
          isDisabled={cursors.length <= 1}
          onPress={() => {
            setCursors((old) => old.slice(0, -1));
            setSelected(new Set());
          }}
        >
          Previous page
        </Button>
        <span>Page {cursors.length}</span>
        <Button
          isDisabled={!jobs.data?.next_cursor}
          onPress={() => {
            const next = jobs.data?.next_cursor ?? undefined;
            setCursors((old) => [...old, next]);
            setSelected(new Set());
          }}
        >
          Next page
        </Button>
      </nav>
    </div>
  );
}

function JobRow({
  job,
  showOwner,
  selected,
  onSelect,
}: {
  job: JobView;
  showOwner: boolean;
  selected: boolean;
  onSelect: (on: boolean) => void;
}) {
  const active = job.status === "processing" || job.status === "pending";
  return (
    <li className="job" data-status={job.status}>
      <CheckboxField isSelected={selected} onChange={onSelect} aria-label={`Select ${job.original_filename}`}>
        <CheckboxButton className="checkbox">
          <span className="check" aria-hidden="true" />
        </CheckboxButton>
      </CheckboxField>
      <div className="job-main">
        <Link to={`/jobs/${job.id}`} className="job-name">
          {job.original_filename}
        </Link>
        <div className="job-meta">
          <StatusBadge status={job.status} />
          {job.stage && job.status === "processing" && <span>stage: {job.stage}</span>}
          {job.queue_position != null && <span>queue position {job.queue_position}</span>}
          {job.status === "processing" && <span>ETA {formatDuration(job.eta_seconds)}</span>}
          {showOwner && job.username && <span>owner: {job.username}</span>}
          <span>{formatTime(job.created_at)}</span>
        </div>
        {(active || job.status === "completed") && (
          <Progress label={`Progress of ${job.original_filename}`} value={job.progress} />
        )}
        {job.status === "failed" && job.error_message && <p className="error-text">{job.error_message}</p>}
      </div>
    </li>
  );
}
