import { Button } from "react-aria-components";

import { notify } from "../../components/notifications";
import { useRetryFailed } from "./api";

/** The admin's "retry every failed job" action. */
export function RetryFailedButton() {
  const retry = useRetryFailed();
  return (
    <Button
      isDisabled={retry.isPending}
      onPress={() =>
        retry.mutate(undefined, {
          onSuccess: () => notify({ tone: "success", text: "Every failed job is being retried" }),
          onError: (error) => notify({ tone: "error", text: error.message }),
        })
      }
    >
      Retry all failed
    </Button>
  );
}
