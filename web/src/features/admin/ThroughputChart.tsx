/** Completed and failed jobs per minute over the last hour, as an SVG bar chart with a text
 * summary for screen readers (the numbers are in the accessible name). */
export interface Minute {
  minute: string;
  completed: number;
  failed: number;
}

export function ThroughputChart({ minutes }: { minutes: Minute[] }) {
  const width = 600;
  const height = 160;
  const max = Math.max(1, ...minutes.map((m) => m.completed + m.failed));
  const bar = width / Math.max(minutes.length, 60);
  const completed = minutes.reduce((sum, m) => sum + m.completed, 0);
  const failed = minutes.reduce((sum, m) => sum + m.failed, 0);
  const label = `Throughput over the last hour: ${completed} completed, ${failed} failed; busiest minute ${max === 1 && completed + failed === 0 ? 0 : max} jobs.`;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} preserveAspectRatio="none">
        <line x1="0" y1={height} x2={width} y2={height} className="axis" />
        {minutes.map((m, i) => {
          const okHeight = (m.completed / max) * height;
          const failHeight = (m.failed / max) * height;
          return (
            <g key={m.minute}>
              <rect className="bar-ok" x={i * bar + 1} width={Math.max(bar - 2, 1)} y={height - okHeight} height={okHeight} />
              <rect
                className="bar-failed"
                x={i * bar + 1}
                width={Math.max(bar - 2, 1)}
                y={height - okHeight - failHeight}
                height={failHeight}
              />
            </g>
          );
        })}
      </svg>
      <div className="ticks" aria-hidden="true">
        <span>−60 min</span>
        <span>now</span>
      </div>
      <figcaption>
        <span className="key key-ok" aria-hidden="true" /> completed ({completed})
        <span className="key key-failed" aria-hidden="true" /> failed ({failed}), per minute
      </figcaption>
    </figure>
  );
}
