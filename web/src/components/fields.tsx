import type { ReactNode } from "react";
import { FieldError, Input, Label, Text, TextField, type TextFieldProps } from "react-aria-components";

interface FieldProps extends TextFieldProps {
  label: string;
  description?: ReactNode;
}

/** A labelled text input with its description and validation message. */
export function Field({ label, description, ...props }: FieldProps) {
  return (
    <TextField className="field" {...props}>
      <Label>{label}</Label>
      <Input />
      {description && <Text slot="description">{description}</Text>}
      <FieldError />
    </TextField>
  );
}

export function Alert({ children }: { children: ReactNode }) {
  return (
    <div className="alert" role="alert">
      {children}
    </div>
  );
}
