// stamp.mjs writes ../dist/SOURCES.sha256: a digest of the files the bundle
// is built from, so that a plain `go test` (TestBundleMatchesSources in
// graph/console) notices a source changed without the bundle being
// rebuilt, with no Node.js. The digest: for each file in path order, a line
// "<path> <sha256 of its content>"; then the sha256 of those lines.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const roots = ["index.html", "package.json", "package-lock.json", "stamp.mjs", "vite.config.js", "src"];
function walk(p) {
  return statSync(p).isDirectory() ? readdirSync(p).sort().flatMap((n) => walk(join(p, n))) : [p];
}
const files = roots.flatMap(walk).sort();
const lines = files.map((f) => `${f} ${createHash("sha256").update(readFileSync(f)).digest("hex")}\n`).join("");
writeFileSync("../dist/SOURCES.sha256", createHash("sha256").update(lines).digest("hex") + "\n");
