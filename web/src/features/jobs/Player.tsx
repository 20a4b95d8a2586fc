import Hls from "hls.js";
import { useEffect, useRef } from "react";

/** The result, inline: MP4/WebM natively, HLS through hls.js (or natively where supported). */
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
    if (Hls.isSupported()) {
      const hls = new Hls();
      hls.loadSource(src);
      hls.attachMedia(element);
      return () => hls.destroy();
    }
    element.src = src; // Safari plays HLS itself
    return undefined;
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
