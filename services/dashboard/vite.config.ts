import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { plannedShim } from './dev/planned-shim.ts';

// Where the API runs during development; the built app always calls its own origin.
const cairn = process.env.CAIRN_URL ?? 'http://127.0.0.1:8080';

// The Content-Security-Policy the cairn binary sends with the dashboard. The dev and preview
// servers send it too, so anything that would break under it breaks here first.
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; frame-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const proxy = {
  '/v1': { target: cairn, changeOrigin: false },
  '/openapi.yaml': { target: cairn, changeOrigin: false },
};

export default defineConfig({
  base: '/',
  plugins: [react(), ...(process.env.CAIRN_PLANNED_SHIM === '1' ? [plannedShim(cairn)] : [])],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // No inline module-preload polyfill (script-src 'self'); every browser we support has it.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // The entry chunk holds React, the router, the query cache and both dictionaries (~410 KB
    // raw, ~128 KB gzip); the budget that matters is the gzip one `npm run size` enforces.
    chunkSizeWarningLimit: 450,
  },
  server: { port: 5173, strictPort: false, proxy },
  // The dev server injects inline scripts for hot reload, so the CSP is only sent in preview.
  preview: { port: 4173, strictPort: false, proxy, headers: { 'Content-Security-Policy': CSP } },
});
