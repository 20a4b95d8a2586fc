import { useSearchParams } from "react-router";

import { SORTS, type Sort } from "./queries";
import { STATUSES, type Status } from "./types";

export interface ListFilters {
  status: Status | undefined;
  q: string;
  sort: Sort;
  order: "asc" | "desc";
}

export type FilterKey = keyof ListFilters;

/** Filters live in the URL (shareable, survive a reload); `set` with nothing drops a filter. */
export function useListParams() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status");
  const sort = params.get("sort");
  const value: ListFilters = {
    status: STATUSES.includes(status as Status) ? (status as Status) : undefined,
    q: params.get("q") ?? "",
    sort: SORTS.includes(sort as Sort) ? (sort as Sort) : "created_at",
    order: params.get("order") === "asc" ? "asc" : "desc",
  };
  const set = (key: FilterKey, next: string | undefined) =>
    setParams(
      (old) => {
        const copy = new URLSearchParams(old);
        if (next) copy.set(key, next);
        else copy.delete(key);
        return copy;
      },
      { replace: true },
    );
  return { value, set };
}
