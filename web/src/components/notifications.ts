/** App-wide notifications (job completed / failed, errors): a tiny external store. */
import { useSyncExternalStore } from "react";

export interface Notice {
  id: number;
  tone: "success" | "error" | "info";
  text: string;
  href?: string;
}

let notices: Notice[] = [];
let nextId = 1;
const listeners = new Set<() => void>();

function emit(): void {
  for (const listener of listeners) listener();
}

export function notify(notice: Omit<Notice, "id">, timeoutMs = notice.tone === "info" ? 4000 : 8000): number {
  const id = nextId++;
  notices = [...notices.slice(-4), { ...notice, id }];
  emit();
  if (timeoutMs > 0) setTimeout(() => dismiss(id), timeoutMs);
  return id;
}

export function dismiss(id: number): void {
  notices = notices.filter((notice) => notice.id !== id);
  emit();
}

export function useNotices(): Notice[] {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => notices,
  );
}
