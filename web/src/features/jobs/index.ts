/** The jobs feature's public entry (other features import only from here). */
export { JobList } from "./JobList";
export type { JobView } from "./types";
