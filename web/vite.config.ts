/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig, type ProxyOptions } from "vite";

// `npm run dev` proxies the API to a running `vidpipe up` (VIDPIPE_API, default :8000).
const api = process.env.VIDPIPE_API ?? "http://127.0.0.1:8000";
const proxy: Record<string, ProxyOptions> = {};
for (const path of ["/auth", "/upload", "/uploads", "/events", "/media", "/openapi.json"]) {
  proxy[path] = { target: api };
}
// /jobs... and /admin/... are app routes and API paths: a browser navigation gets the app
for (const path of ["/jobs", "/admin"]) {
  proxy[path] = {
    target: api,
    bypass: (req) => ((req.headers.accept ?? "").includes("text/html") ? "/index.html" : undefined),
  };
}

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true },
  server: { proxy },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    testTimeout: 30_000,
  },
});
