// Vite builds the console into ../dist, which the crm binary embeds
// (graph/console/console.go). Output names carry no hashes and the build
// writes no timestamps, so building the same sources and lockfile twice
// gives the same bytes: scripts/check-web.sh relies on that.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    target: "es2020",
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
