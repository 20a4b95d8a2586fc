import { afterEach, describe, expect, it, vi } from "vitest";

import { SessionStore } from "../auth/session";
import { openLiveEvents, type LiveEvent } from "./events";

const user = { id: "u1", username: "ada", email: "ada@example.com", role: "user" as const };

function stream(text: string): Response {
  return new Response(text, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

afterEach(() => vi.unstubAllGlobals());

describe("openLiveEvents", () => {
  it("sends the bearer token, refreshes on 401, and resumes with Last-Event-ID", async () => {
    let tokens = 0;
    const session = new SessionStore(async () =>
      Response.json({ access_token: `t${++tokens}`, token_type: "bearer", expires_in: 900, user }),
    );
    await session.refresh(); // t1
    const sent: { auth: string | null; last: string | null }[] = [];
    const replies = [
      () => new Response(null, { status: 401 }),
      () => stream('id: c1\nevent: progress_update\ndata: {"job_id":"j","progress":5}\n\n'),
      () => stream('id: c2\nevent: job_complete\ndata: {"job_id":"j","status":"completed","progress":100}\n\n'),
    ];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (_input: RequestInfo | URL, init?: RequestInit) => {
        const headers = new Headers(init?.headers);
        sent.push({ auth: headers.get("Authorization"), last: headers.get("last-event-id") });
        const reply = replies[sent.length - 1];
        return reply ? reply() : new Promise<Response>(() => undefined); // then stays open
      }),
    );
    const events: LiveEvent[] = [];
    const done = new Promise<void>((resolve) => {
      const close = openLiveEvents({
        session,
        onEvent: (event) => {
          events.push(event);
          if (event.event === "job_complete") {
            close();
            resolve();
          }
        },
      });
    });
    await done;
    expect(events.map((e) => [e.event, e.id, e.data.progress])).toEqual([
      ["progress_update", "c1", 5],
      ["job_complete", "c2", 100],
    ]);
    expect(sent[0]).toEqual({ auth: "Bearer t1", last: null });
    expect(sent[1]).toEqual({ auth: "Bearer t2", last: null }); // refreshed after the 401
    expect(sent[2]).toEqual({ auth: "Bearer t2", last: "c1" }); // resumed where it was cut
  });
});
