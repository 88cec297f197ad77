// Copies the GraphiQL IDE's production builds from node_modules into graph/static/graphiql/,
// which the app serves at /static/graphiql/ (GraphiQL then works with no internet).
// Run after changing the graphiql, react or react-dom version in package.json:
//   npm ci && node vendor-graphiql.mjs
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "..", "graph", "static", "graphiql");
export const FILES = {
  "react.production.min.js": "react/umd/react.production.min.js",
  "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
  "graphiql.min.js": "graphiql/graphiql.min.js",
  "graphiql.min.css": "graphiql/graphiql.min.css",
};

function version(name) {
  return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(target, { recursive: true });
  for (const [file, source] of Object.entries(FILES)) {
    const text = readFileSync(join(here, "node_modules", source), "utf8");
    // Drop the source-map comment: the maps are not vendored.
    writeFileSync(join(target, file), text.replace(/\n?\/[*/]# sourceMappingURL=\S+?(?: \*\/)?\s*$/, "\n"));
  }
  const versions = Object.fromEntries(["graphiql", "react", "react-dom"].map((n) => [n, version(n)]));
  writeFileSync(join(target, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
  console.log("vendored", versions, "into", target);
}
