/** The presets the server knows (schemas/options.py): offered on upload and on reprocess. */
export const PRESETS = [
  { id: "h264-720p", label: "MP4 720p (H.264)" },
  { id: "h264-480p", label: "MP4 480p (H.264)" },
  { id: "h264-1080p", label: "MP4 1080p (H.264)" },
  { id: "vp9-720p", label: "WebM 720p (VP9)" },
  { id: "hls", label: "HLS ladder (360p/480p/720p)" },
  { id: "audio", label: "Audio only (M4A)" },
] as const;
