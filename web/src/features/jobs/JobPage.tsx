import { useState } from "react";
import { Button } from "react-aria-components";
import { Link, useNavigate, useParams } from "react-router";

import { Alert } from "../../components/fields";
import { Choose, Confirm, Progress, StatusBadge } from "../../components/controls";
import { formatBytes, formatDuration, formatMs, formatTime } from "../../components/format";
import { notify } from "../../components/notifications";
import { usePageTitle } from "../../components/usePageTitle";
import { PRESETS } from "../../config/presets";
import { useHistory, useJob, useJobAction } from "./api";
import { Player } from "./Player";
import type { JobView } from "./types";

function basename(name: string): string {
  return name.split("/").pop() ?? name;
}

export function JobPage() {
  const { jobId = "" } = useParams();
  const job = useJob(jobId);
  usePageTitle(job.data?.original_filename ?? "Job");
  if (job.error) {
    return (
      <>
        <h1>Job not found</h1>
        <Alert>{job.error.message}</Alert>
        <Link to="/jobs">Back to your jobs</Link>
      </>
    );
  }
  if (!job.data) return <p role="status">Loading job…</p>;
  return <JobDetails job={job.data} />;
}

function JobDetails({ job }: { job: JobView }) {
  const action = useJobAction(job.id);
  const navigate = useNavigate();
  const [preset, setPreset] = useState<string>("h264-720p");
  const run = (name: "cancel" | "retry" | "delete" | "reprocess") =>
    action.mutate(
      { action: name, preset },
      {
        onSuccess: () => {
          notify({ tone: "info", text: `${job.original_filename}: ${name} requested` });
          if (name === "delete") void navigate("/jobs");
        },
        onError: (error) => notify({ tone: "error", text: error.message }),
      },
    );
  const outputs = job.outputs;
  const thumbnail = outputs.find((o) => o.name === "thumbnail.jpg");
  const preview = outputs.find((o) => o.name === "preview.mp4");
  const active = job.status === "pending" || job.status === "processing";
  const meta = job.metadata;

  return (
    <article className="stack">
      <p>
        <Link to="/jobs">← All jobs</Link>
      </p>
      <h1 className="break">{job.original_filename}</h1>
      <div className="job-meta">
        <StatusBadge status={job.status} />
        {job.stage && job.status === "processing" && <span>stage: {job.stage}</span>}
        {job.queue_position != null && <span>queue position {job.queue_position}</span>}
        {job.status === "processing" && <span>ETA {formatDuration(job.eta_seconds)}</span>}
        <span>attempt {job.attempts}</span>
      </div>
      <Progress label="Progress" value={job.progress} />
      {job.status === "failed" && (
        <Alert>
          <strong>Failed{job.error_code ? ` (${job.error_code})` : ""}:</strong> {job.error_message ?? "no message"}
        </Alert>
      )}

      <section aria-labelledby="actions" className="row wrap">
        <h2 id="actions" className="visually-hidden">
          Actions
        </h2>
        {active && (
          <Button onPress={() => run("cancel")} isDisabled={action.isPending || job.cancel_requested}>
            {job.cancel_requested ? "Cancelling…" : "Cancel job"}
          </Button>
        )}
        {(job.status === "failed" || job.status === "cancelled") && (
          <Button onPress={() => run("retry")} isDisabled={action.isPending}>
            Retry job
          </Button>
        )}
        {!active && (
          <div className="row">
            <Choose
              label="New preset"
              value={preset}
              choices={PRESETS.map((p) => ({ id: p.id, label: p.label }))}
              onChange={setPreset}
            />
            <Confirm
              label="Reprocess"
              title="Reprocess this video?"
              confirmLabel="Reprocess"
              className="secondary"
              onConfirm={() => run("reprocess")}
            >
              The source is transcoded again with the preset {preset}; the current outputs are replaced.
            </Confirm>
          </div>
        )}
        <Confirm label="Delete job" title="Delete this job?" confirmLabel="Delete" onConfirm={() => run("delete")}>
          {job.original_filename}, its source and its outputs are removed. This cannot be undone.
        </Confirm>
      </section>

      {job.status === "completed" && job.playback_url && (
        <section aria-labelledby="result">
          <h2 id="result">Result</h2>
          <Player src={job.playback_url} title={`Result of ${job.original_filename}`} />
        </section>
      )}

      <div className="columns">
        <section aria-labelledby="source">
          <h2 id="source">Source</h2>
          {thumbnail && <img className="thumb" src={thumbnail.url} alt={`Thumbnail of ${job.original_filename}`} />}
          <dl className="facts">
            <dt>Size</dt>
            <dd>{formatBytes(job.source_size)}</dd>
            <dt>Duration</dt>
            <dd>{formatDuration(meta.duration_s)}</dd>
            <dt>Resolution</dt>
            <dd>{meta.width && meta.height ? `${meta.width}×${meta.height}` : "—"}</dd>
            <dt>Codecs</dt>
            <dd>{[meta.video_codec, meta.audio_codec].filter(Boolean).join(" / ") || "—"}</dd>
            <dt>Frame rate</dt>
            <dd>{meta.fps ?? "—"}</dd>
            <dt>Bit rate</dt>
            <dd>{meta.bitrate ? `${Math.round(meta.bitrate / 1000)} kbit/s` : "—"}</dd>
            <dt>Options</dt>
            <dd>
              <code>{JSON.stringify(job.processing_options)}</code>
            </dd>
            <dt>Created</dt>
            <dd>{formatTime(job.created_at)}</dd>
            <dt>Completed</dt>
            <dd>{formatTime(job.completed_at)}</dd>
          </dl>
        </section>
        {preview && (
          <section aria-labelledby="preview">
            <h2 id="preview">Preview</h2>
            <video
              className="preview"
              src={preview.url}
              muted
              loop
              playsInline
              controls
              aria-label={`Preview of ${job.original_filename}`}
            />
          </section>
        )}
      </div>

      {outputs.length > 0 && (
        <section aria-labelledby="outputs">
          <h2 id="outputs">Outputs</h2>
          <ul className="outputs">
            {outputs.map((output) => (
              <li key={output.name}>
                <span className="break">{output.name}</span>
                <span>{formatBytes(output.size_bytes)}</span>
                <a className="button" href={output.url} download={basename(output.name)} aria-label={`Download ${output.name}`}>
                  Download
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
      <History jobId={job.id} />
    </article>
  );
}

function History({ jobId }: { jobId: string }) {
  const history = useHistory(jobId);
  return (
    <section aria-labelledby="history">
      <h2 id="history">History</h2>
      {history.error && <Alert>{history.error.message}</Alert>}
      {history.data?.length === 0 && <p>Nothing processed yet.</p>}
      <ol className="timeline">
        {history.data?.map((entry) => (
          <li key={entry.id} data-status={entry.status}>
            <strong>{entry.operation}</strong> <StatusBadge status={entry.status} />
            <span>{formatMs(entry.duration_ms)}</span>
            <span>worker {entry.worker_id ?? "—"}</span>
            <span>attempt {entry.attempt}</span>
            <time dateTime={entry.created_at ?? undefined}>{formatTime(entry.created_at)}</time>
          </li>
        ))}
      </ol>
    </section>
  );
}
