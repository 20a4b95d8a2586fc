/** The one API client: typed from the server's OpenAPI document (`make web-api`). */
import createClient from "openapi-fetch";

import { session } from "../auth/session";
import type { components, paths } from "./schema";

// same origin; absolute so that Request objects resolve outside a page too (tests)
export const api = createClient<paths>({ baseUrl: globalThis.location.origin, fetch: session.authFetch });

export type Job = components["schemas"]["Job"];
export type JobList = components["schemas"]["JobList"];
export type HistoryEntry = components["schemas"]["HistoryEntry"];
export type Output = components["schemas"]["Output"];

export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

/** An API refusal, with the server's own words. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The data of an openapi-fetch result, or an ApiError carrying the server's message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) {
    const body = (result.error ?? {}) as ApiErrorBody;
    const { status, statusText } = result.response;
    throw new ApiError(
      body.error?.message ?? `${status} ${statusText}`,
      status,
      body.error?.code ?? "error",
    );
  }
  return result.data;
}
