// `make assets`: bundle src/ into static/dist with content-hashed names and write the
// manifest the templates read (static/dist/manifest.json: entry name -> file). The output
// is committed, so serving the pages never needs Node.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename } from "node:path";

const OUT = "static/dist";
const ENTRIES = { app: "src/app.js", editor: "src/editor.js" };
// The API docs' (/docs, /redoc) prebuilt files, served from here instead of a CDN.
const COPIED = {
  "swagger-ui.js": "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
  "swagger-ui.css": "node_modules/swagger-ui-dist/swagger-ui.css",
  "redoc.js": "node_modules/redoc/bundles/redoc.standalone.js",
};

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const result = await build({
  entryPoints: ENTRIES,
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: ["chrome110", "firefox115", "safari16"],
  outdir: OUT,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  metafile: true,
  legalComments: "eof",
  logLevel: "info",
});
// What the bundles were built from, so that a test can tell when they are stale:
// sha256 over package-lock.json and src/*, by name in order (tests/web/test_assets.py).
const inputs = ["package-lock.json", ...readdirSync("src").sort().map((name) => `src/${name}`)];
const digest = createHash("sha256");
for (const path of inputs) digest.update(`${path}\n`).update(readFileSync(path));
const manifest = { sources: digest.digest("hex") };
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  for (const [name, source] of Object.entries(ENTRIES)) {
    if (output.entryPoint === source) manifest[`${name}.js`] = `dist/${basename(file)}`;
  }
}
for (const [name, source] of Object.entries(COPIED)) {
  const contents = readFileSync(source);
  const hash = createHash("sha256").update(contents).digest("hex").slice(0, 8).toUpperCase();
  const file = name.replace(/\.(\w+)$/, `-${hash}.$1`);
  copyFileSync(source, `${OUT}/${file}`);
  manifest[name] = `dist/${file}`;
}
writeFileSync(`${OUT}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
