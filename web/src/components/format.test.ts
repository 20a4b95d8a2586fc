import { describe, expect, it } from "vitest";

import { formatBytes, formatDuration, formatMs } from "./format";

describe("format", () => {
  it("reads bytes, durations and milliseconds as people do", () => {
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1_500_000)).toBe("1.5 MB");
    expect(formatBytes(null)).toBe("—");
    expect(formatDuration(42.4)).toBe("42 s");
    expect(formatDuration(125)).toBe("2 min 5 s");
    expect(formatDuration(3 * 3600 + 60)).toBe("3 h 1 min");
    expect(formatDuration(null)).toBe("—");
    expect(formatMs(250)).toBe("250 ms");
    expect(formatMs(2500)).toBe("3 s");
  });
});
