import type { DetailedError } from "tus-js-client";
import { describe, expect, it } from "vitest";

import { tusErrorMessage } from "./useUploads";

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
