import { describe, expect, it } from "vitest";

import { buildOptions, EMPTY_ADVANCED } from "./presets";

describe("buildOptions", () => {
  it("is the preset alone without advanced options", () => {
    expect(buildOptions("hls", null)).toEqual({ preset: "hls" });
    expect(buildOptions("hls", EMPTY_ADVANCED)).toEqual({ preset: "hls" });
  });

  it("overrides the preset with each field given, numbers as numbers, rates as written", () => {
    const options = buildOptions("h264-720p", {
      ...EMPTY_ADVANCED,
      format: "webm",
      height: "480",
      crf: " 30 ",
      video_bitrate: "2M",
      trim_end: "12.5",
      fps: "abc",
    });
    expect(options).toEqual({
      preset: "h264-720p",
      format: "webm",
      height: 480,
      crf: 30,
      video_bitrate: "2M",
      trim_end: 12.5,
      fps: "abc", // passed through: the server names the bad field
    });
  });
});
