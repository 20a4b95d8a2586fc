import type { ReactNode } from "react";
import { Button, CheckboxButton, CheckboxField } from "react-aria-components";

import { Confirm } from "../../components/controls";
import { notify } from "../../components/notifications";
import { useBulkAction, type JobAction } from "./api";
import type { JobView } from "./types";

/** Select all on the page, and retry, cancel or delete the selected jobs in one request. */
export function BulkBar({
  items,
  selected,
  onSelect,
  extraActions,
}: {
  items: JobView[];
  selected: Set<string>;
  onSelect: (next: Set<string>) => void;
  extraActions?: ReactNode;
}) {
  const bulk = useBulkAction();
  const runBulk = (action: JobAction) => {
    bulk.mutate(
      { action, ids: [...selected] },
      {
        onSuccess: (results) => {
          const failed = results.filter((r) => !r.ok);
          const done = results.length - failed.length;
          notify({
            tone: failed.length ? "error" : "success",
            text:
              `${action}: ${done} of ${results.length} done` +
              (failed.length ? ` (${failed.map((r) => r.error ?? "refused").join("; ")})` : ""),
          });
          onSelect(new Set());
        },
        onError: (error) => notify({ tone: "error", text: error.message }),
      },
    );
  };
  const allSelected = items.length > 0 && items.every((job) => selected.has(job.id));
  const idle = !selected.size || bulk.isPending;
  return (
    <div className="bulk" aria-label="Bulk actions" role="toolbar">
      <CheckboxField
        isSelected={allSelected}
        isIndeterminate={!allSelected && selected.size > 0}
        onChange={(on) => onSelect(on ? new Set(items.map((job) => job.id)) : new Set())}
        isDisabled={items.length === 0}
      >
        <CheckboxButton className="checkbox">
          <span className="check" aria-hidden="true" />
          Select all on this page
        </CheckboxButton>
      </CheckboxField>
      <span aria-live="polite">{selected.size} selected</span>
      <Button isDisabled={idle} onPress={() => runBulk("retry")}>
        Retry selected
      </Button>
      <Button isDisabled={idle} onPress={() => runBulk("cancel")}>
        Cancel selected
      </Button>
      <Confirm
        label="Delete selected"
        title={`Delete ${selected.size} job${selected.size === 1 ? "" : "s"}?`}
        confirmLabel="Delete"
        isDisabled={idle}
        onConfirm={() => runBulk("delete")}
      >
        Their sources and outputs are removed. This cannot be undone.
      </Confirm>
      {extraActions}
    </div>
  );
}
