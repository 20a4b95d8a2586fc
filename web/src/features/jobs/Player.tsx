import { useEffect, useRef } from "react";

/** The result, inline: MP4/WebM natively; HLS through hls.js (loaded only when needed) wherever
 * Media Source Extensions exist, else natively (iOS Safari). */
export function Player({ src, title }: { src: string; title: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const isHls = new URL(src, window.location.origin).pathname.endsWith(".m3u8");
  useEffect(() => {
    const element = video.current;
    if (!element) return;
    if (!isHls) {
      element.src = src;
      return;
    }
    let destroy: (() => void) | null = null;
    let live = true;
    void import("hls.js").then(({ default: Hls }) => {
      if (!live) return;
      if (!Hls.isSupported()) {
        element.src = src;
        return;
      }
      const hls = new Hls();
      hls.loadSource(src);
      hls.attachMedia(element);
      destroy = () => hls.destroy();
    });
    return () => {
      live = false;
      destroy?.();
    };
  }, [src, isHls]);
  return (
    <video
      ref={video}
      className="player"
      controls
      playsInline
      preload="metadata"
      aria-label={title}
      data-kind={isHls ? "hls" : "file"}
    />
  );
}
