import type { ReactNode } from "react";
import {
  Button,
  Dialog,
  DialogTrigger,
  Heading,
  Label,
  ListBox,
  ListBoxItem,
  Modal,
  Popover,
  ProgressBar,
  Select,
  SelectValue,
} from "react-aria-components";

export interface Choice<T extends string> {
  id: T;
  label: string;
}

/** A labelled single choice (a button that opens a listbox). */
export function Choose<T extends string>({
  label,
  value,
  choices,
  onChange,
}: {
  label: string;
  value: T;
  choices: readonly Choice<T>[];
  onChange: (value: T) => void;
}) {
  return (
    <Select
      className="select"
      value={value}
      onChange={(key) => key !== null && onChange(String(key) as T)}
    >
      <Label>{label}</Label>
      <Button>
        <SelectValue />
        <span aria-hidden="true"> ▾</span>
      </Button>
      <Popover>
        <ListBox>
          {choices.map((choice) => (
            <ListBoxItem key={choice.id} id={choice.id}>
              {choice.label}
            </ListBoxItem>
          ))}
        </ListBox>
      </Popover>
    </Select>
  );
}

/** A progress bar with a visible percentage and an accessible label. */
export function Progress({ label, value }: { label: string; value: number }) {
  return (
    <ProgressBar className="progress" aria-label={label} value={value}>
      {({ percentage, valueText }) => (
        <>
          <div className="progress-track">
            <div className="progress-fill" style={{ width: `${percentage ?? 0}%` }} />
          </div>
          <span className="progress-text">{valueText}</span>
        </>
      )}
    </ProgressBar>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

/** A button that asks before doing something that cannot be undone. */
export function Confirm({
  label,
  title,
  children,
  confirmLabel,
  onConfirm,
  isDisabled,
  className,
}: {
  label: string;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  isDisabled?: boolean;
  className?: string;
}) {
  return (
    <DialogTrigger>
      <Button isDisabled={isDisabled ?? false} className={className ?? "danger"}>
        {label}
      </Button>
      <Modal className="modal" isDismissable>
        <Dialog role="alertdialog" className="dialog">
          {({ close }) => (
            <>
              <Heading slot="title">{title}</Heading>
              <div>{children}</div>
              <div className="row">
                <Button onPress={close}>Keep it</Button>
                <Button
                  className="danger"
                  onPress={() => {
                    close();
                    onConfirm();
                  }}
                >
                  {confirmLabel}
                </Button>
              </div>
            </>
          )}
        </Dialog>
      </Modal>
    </DialogTrigger>
  );
}
