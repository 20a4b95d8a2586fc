import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, renderHook, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { describe, expect, it } from "vitest";

import { useUploads } from "./useUploads";

function leaving(): boolean {
  const event = new Event("beforeunload", { cancelable: true });
  window.dispatchEvent(event);
  return event.defaultPrevented; // true: the browser asks before closing the tab
}

describe("useUploads", () => {
  it("warns before leaving while a file is being sent, and not once it is cancelled", async () => {
    const client = new QueryClient();
    const wrapper = ({ children }: { children: ReactNode }) => (
      <QueryClientProvider client={client}>{children}</QueryClientProvider>
    );
    const { result, unmount } = renderHook(() => useUploads(), { wrapper });
    expect(leaving()).toBe(false);
    act(() => result.current.add([new File(["x".repeat(100)], "a.mp4")], { preset: "hls" }));
    expect(result.current.files).toMatchObject([{ name: "a.mp4", size: 100, state: "uploading" }]);
    await waitFor(() => expect(result.current.busy).toBe(true));
    expect(leaving()).toBe(true);

    const key = result.current.files[0]?.key ?? "";
    act(() => result.current.pause(key));
    expect(result.current.files[0]?.state).toBe("paused");
    expect(leaving()).toBe(true); // paused is still unfinished
    act(() => result.current.cancel(key));
    expect(result.current.files[0]?.state).toBe("cancelled");
    await waitFor(() => expect(leaving()).toBe(false));
    unmount();
  });
});
