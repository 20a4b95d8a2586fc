import type { DetailedError } from "tus-js-client";
import { describe, expect, it } from "vitest";

import { jobIdOf, tusErrorMessage } from "./useUploads";

function refused(status: number, body: string): Error {
  const error = new Error("tus: unexpected response") as Error & Partial<DetailedError>;
  error.originalResponse = {
    getStatus: () => status,
    getHeader: () => undefined,
    getBody: () => body,
    getUnderlyingObject: () => null,
  };
  return error;
}

describe("tusErrorMessage", () => {
  it("shows the server's own message for a refused file", () => {
    const body = JSON.stringify({ error: { code: "unsupported_media", message: "not a video: PDF document" } });
    expect(tusErrorMessage(refused(415, body))).toBe("not a video: PDF document");
  });

  it("falls back to the status, then to the library's words", () => {
    expect(tusErrorMessage(refused(502, "<html>"))).toBe("the server answered 502");
    expect(tusErrorMessage(new Error("network down"))).toBe("network down");
  });
});

describe("jobIdOf", () => {
  const response = (headers: Record<string, string>, body = "") => ({
    getHeader: (name: string) => headers[name],
    getBody: () => body,
  });

  it("reads Upload-Job-Id from the final PATCH's 204 (no body)", () => {
    expect(jobIdOf(response({ "Upload-Job-Id": "j-1" }))).toBe("j-1");
  });

  it("reads the job of a creation that carried the whole file (201 body)", () => {
    expect(jobIdOf(response({}, JSON.stringify({ job: { id: "j-2" } })))).toBe("j-2");
    expect(jobIdOf(response({}))).toBeUndefined();
  });
});
