import { defineConfig } from "vite";

// No plugins: Vite compiles the TSX with Preact's JSX runtime (tsconfig's jsxImportSource).
// The build must need no inline script, so the server's Content-Security-Policy can forbid them:
// the module preload polyfill is off (modern browsers have it) and assets are never inlined.
export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: {
    proxy: {
      "/graphql": { target: "http://127.0.0.1:8000", ws: true, changeOrigin: false },
      "/auth": { target: "http://127.0.0.1:8000" },
    },
  },
});
