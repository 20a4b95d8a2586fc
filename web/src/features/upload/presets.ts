/** Advanced options → the options JSON of an upload (the presets are in config/presets.ts). */
export interface Advanced {
  format: string;
  height: string;
  crf: string;
  video_bitrate: string;
  audio_bitrate: string;
  fps: string;
  trim_start: string;
  trim_end: string;
}

export const EMPTY_ADVANCED: Advanced = {
  format: "",
  height: "",
  crf: "",
  video_bitrate: "",
  audio_bitrate: "",
  fps: "",
  trim_start: "",
  trim_end: "",
};

const NUMERIC = ["height", "crf", "fps", "trim_start", "trim_end"] as const;
const RATES = ["video_bitrate", "audio_bitrate"] as const;

/** The options field of an upload: the preset, overridden by every advanced field given.
 * Values are passed through as typed; the server validates and names a bad field. */
export function buildOptions(preset: string, advanced: Advanced | null): Record<string, unknown> {
  const options: Record<string, unknown> = { preset };
  if (!advanced) return options;
  if (advanced.format) options.format = advanced.format;
  for (const key of NUMERIC) {
    const raw = advanced[key].trim();
    if (raw) options[key] = Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  for (const key of RATES) {
    const raw = advanced[key].trim();
    if (raw) options[key] = raw; // "2M", "128k": the server reads units
  }
  return options;
}
