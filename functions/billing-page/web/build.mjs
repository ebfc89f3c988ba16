// Bundles the page into an output directory (../assets, committed and embedded in the binary;
// infra/web.sh check bundles into a scratch directory and compares).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
if (!out) throw new Error("usage: node build.mjs OUTPUT_DIR");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "iife",
  target: "es2020",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
copyFileSync("index.html", join(out, "index.html"));
copyFileSync("app.css", join(out, "app.css"));
