import { Input, Label, SearchField } from "react-aria-components";

import { Choose } from "../../components/controls";
import { SORTS, type Sort } from "./queries";
import { STATUSES } from "./types";
import type { FilterKey, ListFilters } from "./useListParams";

const SORT_LABELS: Record<Sort, string> = {
  created_at: "Created",
  updated_at: "Updated",
  filename: "File name",
  status: "Status",
};

/** Search, status, sort and order; a default value is passed on as nothing. */
export function JobFilters({
  value,
  onChange,
}: {
  value: ListFilters;
  onChange: (key: FilterKey, next: string | undefined) => void;
}) {
  return (
    <div className="filters" role="search">
      <SearchField
        className="field"
        defaultValue={value.q}
        onSubmit={(q) => onChange("q", q)}
        onClear={() => onChange("q", undefined)}
        onChange={(q) => onChange("q", q || undefined)}
      >
        <Label>Search by file name</Label>
        <Input />
      </SearchField>
      <Choose
        label="Status"
        value={value.status ?? "any"}
        choices={[{ id: "any", label: "Any status" }, ...STATUSES.map((s) => ({ id: s, label: s }))]}
        onChange={(s) => onChange("status", s === "any" ? undefined : s)}
      />
      <Choose
        label="Sort by"
        value={value.sort}
        choices={SORTS.map((s) => ({ id: s, label: SORT_LABELS[s] }))}
        onChange={(s) => onChange("sort", s === "created_at" ? undefined : s)}
      />
      <Choose
        label="Order"
        value={value.order}
        choices={[
          { id: "desc", label: "Descending" },
          { id: "asc", label: "Ascending" },
        ]}
        onChange={(o) => onChange("order", o === "desc" ? undefined : o)}
      />
    </div>
  );
}
