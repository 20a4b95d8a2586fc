import { createContext, useContext, type ReactNode } from "react";

import { useUploads } from "./useUploads";

type Uploads = ReturnType<typeof useUploads>;
const UploadsContext = createContext<Uploads | null>(null);

/** Uploads outlive the upload page: browsing the jobs does not stop them. */
export function UploadsProvider({ children, onUploaded }: { children: ReactNode; onUploaded?: () => void }) {
  const uploads = useUploads(onUploaded);
  return <UploadsContext.Provider value={uploads}>{children}</UploadsContext.Provider>;
}

export function useUploadsContext(): Uploads {
  const uploads = useContext(UploadsContext);
  if (!uploads) throw new Error("useUploadsContext outside UploadsProvider");
  return uploads;
}
