import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// a loaded 2-core CI machine renders react-aria in jsdom slowly: wait on conditions longer
configure({ asyncUtilTimeout: 8000 });
afterEach(() => cleanup());
