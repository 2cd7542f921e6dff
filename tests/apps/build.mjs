// Bundle host.mjs (the official client and AppBridge) for the browser: `node build.mjs OUTFILE`.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

await build({
  entryPoints: [fileURLToPath(new URL("host.mjs", import.meta.url))],
  outfile: process.argv[2],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome120",
  logLevel: "warning",
});
