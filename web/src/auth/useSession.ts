import { useSyncExternalStore } from "react";

import { session, type Session } from "./session";

export function useSession(): Session | null {
  return useSyncExternalStore(
    (listener) => session.subscribe(listener),
    () => session.current,
  );
}
