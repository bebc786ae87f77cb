// Builds the web view into the Python package (src/steerflow/rest/ui/dist/), which `steerflow api`
// serves at /ui: one bundled script, one stylesheet, the page. Nothing is loaded from a CDN.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "steerflow", "rest", "ui", "dist");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "linked",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));
await copyFile(join(here, "src", "style.css"), join(out, "style.css"));
console.log(`built the web view into ${out}`);
