/** The last lifecycle status heard live for each job, which wins over older reads of the read
 * model (see live.ts). */
import type { JobView } from "./types";

export interface Heard {
  status: JobView["status"];
  progress?: number;
  time: number; // epoch ms of the event
}

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const heard = new Map<string, Heard>();

export function ms(time: string | null | undefined): number {
  const value = time ? Date.parse(time) : NaN;
  return Number.isNaN(value) ? 0 : value;
}

export function lastHeard(jobId: string): Heard | undefined {
  return heard.get(jobId);
}

/** Remembers a status heard live, unless a later one was heard already. */
export function hear(jobId: string, next: Heard): void {
  const known = heard.get(jobId);
  if (!known || next.time >= known.time) heard.set(jobId, next);
}

/** A job read from the API, with the newer lifecycle status the stream already told. */
export function reconcile<T extends JobView>(job: T): T {
  const live = heard.get(job.id);
  if (!live || live.time <= ms(job.updated_at) || live.status === job.status) return job;
  return { ...job, status: live.status, progress: live.progress ?? job.progress };
}

export function forgetHeard(): void {
  heard.clear();
}
