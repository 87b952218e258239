// Bundle the browser apps (patient wallet, regulator console) with esbuild: one
// self-contained app.js per app (ethers v6 from node_modules, no CDN), plus its static files.
// Usage: node scripts/build_web.mjs [--outdir DIR]
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const appsDir = join(root, "sharing_api/web/apps");
const outIndex = process.argv.indexOf("--outdir");
const outDir = outIndex > 0 ? process.argv[outIndex + 1] : join(root, "sharing_api/web/dist");
const STATIC = /\.(html|css|svg|png|ico|json)$/;

for (const app of readdirSync(appsDir)) {
  const entry = join(appsDir, app, "main.js");
  if (!existsSync(entry)) continue; // `shared` holds modules the apps import
  const target = join(outDir, app);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: true,
    legalComments: "linked",
    outfile: join(target, "app.js"),
    logLevel: "warning",
  });
  for (const name of readdirSync(join(appsDir, app))) {
    if (STATIC.test(name)) cpSync(join(appsDir, app, name), join(target, name));
  }
  console.log(`built ${app} -> ${target}`);
}
