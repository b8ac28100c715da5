// The dashboard's build. `npm run build` writes dist/, which capstan-api-server serves
// (`--static-assets web/dist`). `npm run dev` serves the sources with the API proxied to a
// running front door (CAPSTAN_DEV_BACKEND, default the quickstart's gateway on :8080).
import { defineConfig } from 'vite';

const backend = process.env.CAPSTAN_DEV_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/auth': { target: backend, changeOrigin: false },
    },
  },
});
