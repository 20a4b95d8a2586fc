import { describe, expect, it, vi } from "vitest";

import { SessionStore } from "./session";

const user = { id: "u1", username: "ada", email: "ada@example.com", role: "user" as const };

function tokenReply(token: string, expiresIn = 900): Response {
  return Response.json({ access_token: token, token_type: "bearer", expires_in: expiresIn, user });
}

describe("SessionStore", () => {
  it("sends the cookie-session login with the CSRF header and keeps the token in memory", async () => {
    const fetcher = vi.fn(async (_input: RequestInfo | URL, _init?: RequestInit) => tokenReply("a1"));
    const store = new SessionStore(fetcher);
    await store.login("ada", "pw");
    const [path, init] = fetcher.mock.calls[0] ?? [];
    expect(path).toBe("/auth/login");
    expect(JSON.parse(init?.body as string)).toEqual({ username: "ada", password: "pw", session: "cookie" });
    expect(new Headers(init?.headers).get("X-Requested-With")).toBe("vidpipe");
    expect(store.current?.accessToken).toBe("a1");
    expect(localStorage.length + sessionStorage.length).toBe(0);
  });

  it("sends an invitation code with the registration only when there is one", async () => {
    const fetcher = vi.fn(async (_input: RequestInfo | URL, _init?: RequestInit) => tokenReply("r1"));
    const store = new SessionStore(fetcher);
    await store.register("ada", "ada@example.com", "pw-pw-pw-pw", "code-1");
    await store.register("bob", "bob@example.com", "pw-pw-pw-pw");
    const bodies = fetcher.mock.calls.map(([, init]) => JSON.parse(init?.body as string) as object);
    expect(bodies[0]).toMatchObject({ username: "ada", invite: "code-1", session: "cookie" });
    expect(bodies[1]).not.toHaveProperty("invite");
  });

  it("refreshes once for concurrent callers (single flight)", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const fetcher = vi.fn(async () => {
      await gate;
      return tokenReply("fresh");
    });
    const store = new SessionStore(fetcher);
    const both = Promise.all([store.refresh(), store.refresh(), store.token()]);
    release();
    const [a, b, token] = await both;
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(a?.accessToken).toBe("fresh");
    expect(b).toBe(a);
    expect(token).toBe("fresh");
  });

  it("refreshes an expiring token before a request and retries once after a 401", async () => {
    const seen: (string | null)[] = [];
    let refreshes = 0;
    const fetcher = vi.fn(async (input: RequestInfo | URL) => {
      const request = input instanceof Request ? input : new Request(new URL(String(input), "http://x"));
      if (request.url.endsWith("/auth/refresh")) return tokenReply(`t${++refreshes}`);
      seen.push(request.headers.get("Authorization"));
      return new Response(null, { status: seen.length === 1 ? 401 : 200 });
    });
    const store = new SessionStore(fetcher);
    await store.refresh(); // t1
    const response = await store.authFetch("http://x/jobs");
    expect(response.status).toBe(200);
    expect(seen).toEqual(["Bearer t1", "Bearer t2"]);
  });

  it("marks every API request as the app's own (X-Requested-With), with or without a token", async () => {
    const marked: (string | null)[] = [];
    const fetcher = vi.fn(async (input: RequestInfo | URL) => {
      const request = input instanceof Request ? input : new Request(new URL(String(input), "http://x"));
      if (request.url.endsWith("/auth/refresh")) return Response.json({}, { status: 401 });
      marked.push(request.headers.get("X-Requested-With"));
      return new Response(null, { status: 200 });
    });
    const store = new SessionStore(fetcher);
    await store.authFetch("http://x/jobs", { method: "POST", body: "{}" });
    await store.authFetch(new Request("http://x/jobs/1", { method: "DELETE" }));
    expect(marked).toEqual(["vidpipe", "vidpipe"]);
  });

  it("signs out when the refresh is refused", async () => {
    const store = new SessionStore(async () => Response.json({ error: { code: "x" } }, { status: 401 }));
    expect(await store.refresh()).toBeNull();
    expect(store.current).toBeNull();
  });

  it("hears another tab's refresh and logout", async () => {
    const one = new SessionStore(async () => tokenReply("shared"));
    const two = new SessionStore(async () => new Response(null, { status: 204 }));
    const heard = new Promise((resolve) => two.subscribe(resolve));
    await one.refresh();
    expect(await heard).toMatchObject({ accessToken: "shared" });
    const gone = new Promise((resolve) => one.subscribe(resolve));
    await two.logout();
    expect(await gone).toBeNull();
  });
});
