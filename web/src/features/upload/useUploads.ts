/**
 * Client-side state of files being sent (not server state): one tus upload per file, resumable
 * across dropped connections (retries) and reloads (fingerprints in localStorage: picking the
 * same file again continues from the server's offset).
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { Upload, type DetailedError } from "tus-js-client";

import { session } from "../../auth/session";

export type UploadState = "uploading" | "paused" | "done" | "error" | "cancelled";

export interface FileUpload {
  key: string;
  name: string;
  size: number;
  sent: number;
  state: UploadState;
  error?: string;
  refused?: boolean; // the server said no (4xx): resuming would not help
  jobId?: string;
  resumedFrom?: number;
}

const CHUNK_BYTES = 8 * 1024 * 1024;

/** The server's own words from a tus error (the JSON error envelope), else the library's. */
export function tusErrorMessage(error: Error): string {
  const response = (error as Partial<DetailedError>).originalResponse;
  const body = response?.getBody();
  if (body) {
    try {
      const parsed = JSON.parse(body) as { error?: { message?: string } };
      if (parsed.error?.message) return parsed.error.message;
    } catch {
      /* not JSON */
    }
  }
  if (response) return `the server answered ${response.getStatus()}`;
  return error.message;
}

/** The job a finished upload submitted: the final PATCH's 204 names it in `Upload-Job-Id`; a
 * creation that carried the whole file (201) also has it in its body. */
export function jobIdOf(response: {
  getHeader(name: string): string | undefined;
  getBody(): string | undefined;
}): string | undefined {
  const header = response.getHeader("Upload-Job-Id");
  if (header) return header;
  const body = response.getBody();
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { job?: { id?: string } };
    return parsed.job?.id;
  } catch {
    return undefined;
  }
}

/** `onUploaded` runs when a file is in (the app refreshes the job lists with it). */
export function useUploads(onUploaded?: () => void) {
  const [files, setFiles] = useState<FileUpload[]>([]);
  const uploads = useRef(new Map<string, Upload>());

  const patch = useCallback((key: string, change: Partial<FileUpload>) => {
    setFiles((old) => old.map((f) => (f.key === key ? { ...f, ...change } : f)));
  }, []);

  const add = useCallback(
    (picked: File[], options: Record<string, unknown>) => {
      for (const file of picked) {
        const key = `${file.name}-${file.size}-${file.lastModified}-${Math.random().toString(36).slice(2)}`;
        const upload = new Upload(file, {
          endpoint: "/uploads/",
          chunkSize: CHUNK_BYTES,
          retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
          storeFingerprintForResuming: true,
          removeFingerprintOnSuccess: true,
          metadata: { filename: file.name, filetype: file.type, options: JSON.stringify(options) },
          onBeforeRequest: async (request) => {
            const token = await session.token();
            if (token) request.setHeader("Authorization", `Bearer ${token}`);
          },
          onShouldRetry: (error) => {
            const status = error.originalResponse?.getStatus() ?? 0;
            if (status === 401) {
              void session.refresh(); // onBeforeRequest waits for it
              return true;
            }
            // a refusal (4xx) is final and shown; a drop or a 5xx is retried, then resumed
            return !(status >= 400 && status < 500 && status !== 409 && status !== 423 && status !== 429);
          },
          onAfterResponse: (request, response) => {
            // a HEAD is how tus resumes: the server says how far it got
            const offset = response.getHeader("Upload-Offset");
            if (request.getMethod() === "HEAD" && offset) {
              patch(key, { resumedFrom: Number(offset), sent: Number(offset) });
            }
          },
          onProgress: (sent) => patch(key, { sent }),
          onSuccess: ({ lastResponse }) => {
            patch(key, { state: "done", sent: file.size, jobId: jobIdOf(lastResponse) });
            uploads.current.delete(key);
            onUploaded?.();
          },
          onError: (error) => {
            const status = (error as Partial<DetailedError>).originalResponse?.getStatus() ?? 0;
            const refused = status >= 400 && status < 500;
            patch(key, { state: "error", error: tusErrorMessage(error), refused });
          },
        });
        uploads.current.set(key, upload);
        setFiles((old) => [...old, { key, name: file.name, size: file.size, sent: 0, state: "uploading" }]);
        void upload.findPreviousUploads().then((previous) => {
          const last = previous[0];
          if (last) upload.resumeFromPreviousUpload(last);
          upload.start();
        });
      }
    },
    [onUploaded, patch],
  );

  const pause = useCallback(
    (key: string) => {
      void uploads.current.get(key)?.abort(false);
      patch(key, { state: "paused" });
    },
    [patch],
  );
  const resume = useCallback(
    (key: string) => {
      uploads.current.get(key)?.start();
      patch(key, { state: "uploading", error: undefined });
    },
    [patch],
  );
  const cancel = useCallback(
    (key: string) => {
      const upload = uploads.current.get(key);
      uploads.current.delete(key);
      void upload?.abort(true).catch(() => undefined); // DELETE: the server frees the partial file
      patch(key, { state: "cancelled" });
    },
    [patch],
  );
  const clearFinished = useCallback(() => {
    setFiles((old) => old.filter((f) => f.state === "uploading" || f.state === "paused"));
  }, []);

  const busy = files.some((f) => f.state === "uploading" || f.state === "paused");
  useEffect(() => {
    if (!busy) return;
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault(); // the browser asks "Leave site?"
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [busy]);

  useEffect(() => {
    const current = uploads.current;
    return () => {
      for (const upload of current.values()) void upload.abort(false);
    };
  }, []);

  return { files, add, pause, resume, cancel, clearFinished, busy };
}
