import { useState, type SyntheticEvent } from "react";
import { Button, Form } from "react-aria-components";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";

import { session } from "../../auth/session";
import { useSession } from "../../auth/useSession";
import { Alert, Field } from "../../components/fields";
import { usePageTitle } from "../../components/usePageTitle";

function useAfterSignIn(): string {
  const [params] = useSearchParams();
  const next = params.get("next") ?? "/jobs";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/jobs";
}

function useSubmit(action: (form: FormData) => Promise<unknown>) {
  const navigate = useNavigate();
  const next = useAfterSignIn();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const onSubmit = (event: SyntheticEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    action(form)
      .then(() => navigate(next, { replace: true }))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)))
      .finally(() => setPending(false));
  };
  return { onSubmit, error, pending };
}

const text = (form: FormData, name: string): string => {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
};

export function LoginPage() {
  usePageTitle("Log in");
  const current = useSession();
  const next = useAfterSignIn();
  const { onSubmit, error, pending } = useSubmit((form) =>
    session.login(text(form, "username"), text(form, "password")),
  );
  if (current && !pending) return <Navigate to={next} replace />;
  return (
    <div className="auth">
      <h1>Log in</h1>
      <Form onSubmit={onSubmit} className="stack">
        {(error ?? session.refusal) && <Alert>{error ?? session.refusal}</Alert>}
        <Field label="Username" name="username" isRequired autoComplete="username" autoFocus />
        <Field label="Password" name="password" type="password" isRequired autoComplete="current-password" />
        <Button type="submit" className="primary" isPending={pending}>
          Log in
        </Button>
      </Form>
      <p>
        No account? <Link to="/register">Register</Link>
      </p>
    </div>
  );
}

export function RegisterPage() {
  usePageTitle("Register");
  const current = useSession();
  const [params] = useSearchParams();
  const { onSubmit, error, pending } = useSubmit((form) =>
    session.register(
      text(form, "username"),
      text(form, "email"),
      text(form, "password"),
      text(form, "invite").trim(),
    ),
  );
  if (current && !pending) return <Navigate to="/jobs" replace />;
  return (
    <div className="auth">
      <h1>Create an account</h1>
      <Form onSubmit={onSubmit} className="stack">
        {error && <Alert>{error}</Alert>}
        <Field label="Username" name="username" isRequired autoComplete="username" autoFocus />
        <Field label="Email" name="email" type="email" isRequired autoComplete="email" />
        <Field
          label="Password"
          name="password"
          type="password"
          isRequired
          minLength={8}
          autoComplete="new-password"
          description="At least 8 characters."
        />
        <Field
          label="Invitation code"
          name="invite"
          defaultValue={params.get("invite") ?? ""}
          autoComplete="off"
          description="Only if this server asks for one (an admin gives it out)."
        />
        <Button type="submit" className="primary" isPending={pending}>
          Register
        </Button>
      </Form>
      <p>
        Already registered? <Link to="/login">Log in</Link>
      </p>
    </div>
  );
}
