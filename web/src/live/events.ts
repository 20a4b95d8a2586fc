/**
 * One live stream per tab: `GET /events` over fetch (so it carries the `Authorization` header),
 * resumed with `Last-Event-ID` after any drop, so nothing is missed or repeated. A token that
 * expired while disconnected is refreshed before reconnecting; a 401 refreshes and retries.
 */
import { EventStreamContentType, fetchEventSource } from "@microsoft/fetch-event-source";

import type { SessionStore } from "../auth/session";

export interface LiveEvent {
  event: string;
  id: string;
  data: LiveData;
}

export interface LiveData {
  job_id: string;
  status?: string | null;
  progress?: number;
  stage?: string | null;
  fps?: number | null;
  eta?: number | null;
  error_message?: string | null;
  error_code?: string | null;
  type?: string;
  snapshot?: boolean;
  time?: string;
}

class RetriableError extends Error {}
class FatalError extends Error {}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

export interface LiveOptions {
  session: SessionStore;
  onEvent: (event: LiveEvent) => void;
  onState?: (connected: boolean) => void;
  url?: string;
}

/** Opens the stream; returns a function that closes it for good. */
export function openLiveEvents({ session, onEvent, onState, url = "/events" }: LiveOptions) {
  const controller = new AbortController();
  let failures = 0;
  let retryAfterMs: number | undefined; // a 503 or 429 said when to come back
  let closedByServer = false; // a notifier going away sent its own jittered `retry:`
  void fetchEventSource(url, {
    signal: controller.signal,
    openWhenHidden: true, // one stream per tab, kept while hidden: notifications still arrive
    // a fresh token on every (re)connect; the library adds Last-Event-ID itself
    fetch: async (input, init) => {
      const token = await session.token();
      if (!token) throw new FatalError("signed out");
      const headers = new Headers(init?.headers);
      headers.set("Authorization", `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    },
    onopen: async (response) => {
      const type = response.headers.get("content-type") ?? "";
      if (response.ok && type.startsWith(EventStreamContentType)) {
        failures = 0;
        onState?.(true);
        return;
      }
      if (response.status === 401) {
        if (await session.refresh()) throw new RetriableError("token refreshed");
        throw new FatalError("signed out");
      }
      if (response.status >= 400 && response.status < 500 && response.status !== 429) {
        throw new FatalError(`stream refused: ${response.status}`);
      }
      const retryAfter = Number(response.headers.get("Retry-After"));
      if (retryAfter > 0) retryAfterMs = retryAfter * 1000 + Math.random() * 1000;
      throw new RetriableError(`stream unavailable: ${response.status}`);
    },
    onmessage: (message) => {
      if (!message.event || !message.data) return; // heartbeats
      try {
        onEvent({ event: message.event, id: message.id, data: JSON.parse(message.data) as LiveData });
      } catch {
        /* a frame we cannot read is skipped, the stream goes on */
      }
    },
    onclose: () => {
      onState?.(false);
      closedByServer = true;
      throw new RetriableError("stream closed"); // the server restarted: resume
    },
    onerror: (error: unknown) => {
      onState?.(false);
      if (error instanceof FatalError) throw error; // stop
      if (retryAfterMs !== undefined) {
        const wait = retryAfterMs;
        retryAfterMs = undefined;
        return wait;
      }
      if (closedByServer) {
        closedByServer = false;
        return undefined; // the stream's last `retry:` (spread by the server) decides
      }
      // spread out, so that tabs that lost the same server do not all come back at once
      const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] ?? 8000;
      failures += 1;
      return delay * (0.5 + Math.random());
    },
  }).catch(() => onState?.(false));
  return () => controller.abort();
}
