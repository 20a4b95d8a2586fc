import { CheckboxButton, CheckboxField } from "react-aria-components";
import { Link } from "react-router";

import { Progress, StatusBadge } from "../../components/controls";
import { formatDuration, formatTime } from "../../components/format";
import type { JobView } from "./types";

/** The jobs of one page, each with its selection box, status, progress and outcome. */
export function JobTable({
  items,
  showOwner,
  selected,
  onToggle,
}: {
  items: JobView[];
  showOwner: boolean;
  selected: Set<string>;
  onToggle: (jobId: string, on: boolean) => void;
}) {
  return (
    <ul className="jobs" aria-label="Jobs">
      {items.map((job) => (
        <JobRow
          key={job.id}
          job={job}
          showOwner={showOwner}
          selected={selected.has(job.id)}
          onSelect={(on) => onToggle(job.id, on)}
        />
      ))}
    </ul>
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
