/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a running `vidpipe up` (VIDPIPE_API, default :8000).
const api = process.env.VIDPIPE_API ?? "http://127.0.0.1:8000";
const apiPaths = ["/auth", "/upload", "/uploads", "/events", "/media", "/admin/", "/openapi.json"];

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 1200 },
  server: {
    proxy: Object.fromEntries([
      ...apiPaths.map((path) => [path, { target: api, changeOrigin: false }]),
      // /jobs... is both an app route and the API: only non-HTML requests go to the API
      [
        "/jobs",
        {
          target: api,
          bypass: (req: { headers: Record<string, string | string[] | undefined> }) =>
            String(req.headers.accept ?? "").includes("text/html") ? "/index.html" : undefined,
        },
      ],
    ]),
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
