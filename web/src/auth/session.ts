/**
 * The browser session: the access token lives in memory only (never in storage); the refresh
 * token is an HttpOnly cookie the server sets (`session: "cookie"`), which scripts cannot read.
 *
 * Refreshing is single-flight: one request per tab at a time (a shared promise), and across
 * tabs through a Web Lock: the tab holding the lock refreshes and broadcasts the new access token;
 * a tab that waited for the lock and heard a fresher token meanwhile uses it instead of
 * rotating the cookie again. The server's grace window covers whatever still races.
 */
import type { components } from "../api/schema";

export type User = components["schemas"]["User"] & { disabled?: boolean };

export interface Session {
  accessToken: string;
  expiresAt: number; // epoch ms
  user: User;
}

interface TokenReply {
  access_token: string;
  expires_in: number;
  user?: User;
}

type Listener = (session: Session | null) => void;

const CHANNEL = "vidpipe-session";
const LOCK = "vidpipe-refresh";
const CSRF_HEADER = "X-Requested-With";
const CSRF = { [CSRF_HEADER]: "vidpipe" } as const;

export class AuthError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

async function errorOf(response: Response): Promise<AuthError> {
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    return new AuthError(
      body.error?.message ?? `${response.status} ${response.statusText}`,
      response.status,
      body.error?.code ?? "error",
    );
  } catch {
    return new AuthError(`${response.status} ${response.statusText}`, response.status, "error");
  }
}

export class SessionStore {
  private session: Session | null = null;
  /** Why the last refresh was refused, when the server said (e.g. a disabled account). */
  refusal: string | null = null;
  private listeners = new Set<Listener>();
  private inFlight: Promise<Session | null> | null = null;
  private readonly channel: BroadcastChannel | null;

  constructor(private readonly fetcher: typeof fetch = (...args) => fetch(...args)) {
    this.channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(CHANNEL);
    this.channel?.addEventListener("message", (event: MessageEvent<Session | null>) => {
      // another tab refreshed (a session) or logged out (null)
      this.set(event.data, false);
    });
  }

  get current(): Session | null {
    return this.session;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(session: Session | null, broadcast: boolean): void {
    this.session = session;
    if (broadcast) this.channel?.postMessage(session);
    for (const listener of this.listeners) listener(session);
  }

  private async adopt(reply: TokenReply): Promise<Session> {
    this.refusal = null;
    let user = reply.user;
    if (!user) {
      const me = await this.fetcher("/auth/me", {
        headers: { Authorization: `Bearer ${reply.access_token}` },
      });
      if (!me.ok) throw await errorOf(me);
      user = (await me.json()) as User;
    }
    const session = {
      accessToken: reply.access_token,
      expiresAt: Date.now() + reply.expires_in * 1000,
      user,
    };
    this.set(session, true);
    return session;
  }

  async login(username: string, password: string): Promise<Session> {
    return this.post("/auth/login", { username, password, session: "cookie" });
  }

  /** `invite`: the code an admin handed out, when the server runs `REGISTRATION=invite`. */
  async register(username: string, email: string, password: string, invite = ""): Promise<Session> {
    const body = { username, email, password, session: "cookie", ...(invite ? { invite } : {}) };
    return this.post("/auth/register", body);
  }

  private async post(path: string, body: object): Promise<Session> {
    const response = await this.fetcher(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...CSRF },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok) throw await errorOf(response);
    return this.adopt((await response.json()) as TokenReply);
  }

  async logout(): Promise<void> {
    try {
      await this.fetcher("/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...CSRF },
        body: "{}",
        credentials: "same-origin",
      });
    } finally {
      this.set(null, true);
    }
  }

  /** A valid token, refreshed first when it expires within `marginMs`. */
  async token(marginMs = 10_000): Promise<string | null> {
    const session = this.session;
    if (session && session.expiresAt - Date.now() > marginMs) return session.accessToken;
    return (await this.refresh())?.accessToken ?? null;
  }

  /** Rotate the cookie for a new access token: once per tab at a time, once across tabs. */
  refresh(): Promise<Session | null> {
    if (this.inFlight) return this.inFlight;
    const before = this.session;
    const run = async (): Promise<Session | null> => {
      // another tab refreshed while this one waited for the lock: use its token
      if (this.session && this.session !== before && this.session.expiresAt - Date.now() > 10_000) {
        return this.session;
      }
      const response = await this.fetcher("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...CSRF },
        body: "{}",
        credentials: "same-origin",
      });
      if (!response.ok) {
        const error = await errorOf(response);
        if (response.status === 401 || response.status === 403) {
          this.refusal = error.code === "account_disabled" ? error.message : null;
          this.set(null, false);
          return null;
        }
        throw error;
      }
      return this.adopt((await response.json()) as TokenReply);
    };
    const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
    const flight = locks ? (locks.request(LOCK, run) as unknown as Promise<Session | null>) : run();
    this.inFlight = flight.finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** `fetch` with the bearer token and the same-origin marker the server's CSRF check wants
   * (`X-Requested-With`: a header a cross-site form cannot send); a 401 refreshes once and
   * retries. */
  readonly authFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const send = async (token: string | null): Promise<Response> => {
      const attempt = request.clone();
      attempt.headers.set(CSRF_HEADER, CSRF[CSRF_HEADER]);
      if (token) attempt.headers.set("Authorization", `Bearer ${token}`);
      return this.fetcher(attempt);
    };
    const response = await send(await this.token());
    if (response.status !== 401 || !this.session) return response;
    const renewed = await this.refresh();
    return renewed ? send(renewed.accessToken) : response;
  };
}

export const session = new SessionStore();
