import { Alert } from "../../components/fields";
import { formatTime } from "../../components/format";
import { usePageTitle } from "../../components/usePageTitle";
import { AdminNav } from "./AdminNav";
import { useOverview } from "./api";
import { ThroughputChart } from "./ThroughputChart";

export function AdminOverviewPage() {
  usePageTitle("Admin overview");
  const overview = useOverview();
  const data = overview.data;
  return (
    <div className="stack">
      <h1>Pipeline overview</h1>
      <AdminNav />
      {overview.error && <Alert>{overview.error.message}</Alert>}
      {!data && !overview.error && <p role="status">Loading…</p>}
      {data && (
        <>
          <section aria-labelledby="by-status">
            <h2 id="by-status">Jobs by status</h2>
            <dl className="tiles">
              {Object.entries(data.jobs_by_status).map(([status, count]) => (
                <div key={status} className="tile">
                  <dt>{status}</dt>
                  <dd>{count}</dd>
                </div>
              ))}
              <div className="tile">
                <dt>queue depth</dt>
                <dd>{data.queue_depth}</dd>
              </div>
              <div className="tile">
                <dt>dead letters</dt>
                <dd>{data.dead_letters ?? "unknown"}</dd>
              </div>
            </dl>
          </section>
          <section aria-labelledby="throughput">
            <h2 id="throughput">Throughput</h2>
            <ThroughputChart minutes={data.throughput} />
          </section>
          <section aria-labelledby="lag">
            <h2 id="lag">Consumer lag</h2>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Group</th>
                    <th scope="col">Topic</th>
                    <th scope="col">Lag</th>
                  </tr>
                </thead>
                <tbody>
                  {data.consumer_lag.map((row) => (
                    <tr key={`${row.group}/${row.topic}`}>
                      <td>{row.group}</td>
                      <td>{row.topic}</td>
                      <td>{row.lag}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
          <section aria-labelledby="workers">
            <h2 id="workers">Workers at work</h2>
            {data.workers.length === 0 ? (
              <p>No job is being processed right now.</p>
            ) : (
              <div className="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Worker</th>
                      <th scope="col">Job</th>
                      <th scope="col">Stage</th>
                      <th scope="col">fps</th>
                      <th scope="col">Since</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.workers.map((w) => (
                      <tr key={`${w.worker_id}/${w.job_id}`}>
                        <td>{w.worker_id}</td>
                        <td>{w.job_id}</td>
                        <td>{w.stage ?? "—"}</td>
                        <td>{w.fps ?? "—"}</td>
                        <td>{formatTime(w.since)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </div>
  );
}
