// One normalized client cache through every case of pages.mjs:
//   node run.mjs apollo|urql URL [--without-updates]
// (--without-updates leaves out the client's update functions: what the payloads do alone.)
// For each mutation: hold the pages in the client's cache (network), send the mutation through
// the client, then read every page from the cache alone and compare it with what the server
// answers now. Prints one JSON line per case: {"case", "problems"}; no problem is a pass.
import { CASES, MUTATIONS, api } from "./pages.mjs";

const [clientName, url, option] = process.argv.slice(2);
const withUpdates = option !== "--without-updates";
const { makeClient } = await import(`./${clientName}.mjs`);
const server = api(url);

const warnings = [];
for (const level of ["warn", "error"]) {
  console[level] = (...args) => warnings.push(`console.${level}: ${args.map(String).join(" ")}`);
}

/** The value without the `__typename`s a client adds, with keys sorted, for comparison. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .filter((key) => key !== "__typename")
      .sort()
      .map((key) => [key, canonical(value[key])]),
  );
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

async function runCase(name) {
  const problems = [];
  const setup = await CASES[name](server);
  let token = setup.viewer?.token ?? null;
  let requests = 0;
  const counting = (input, init) => {
    requests += 1;
    return fetch(input, init);
  };
  const client = makeClient(url, () => token, counting, withUpdates);
  for (const page of setup.pages) await client.query(page.query, page.variables);
  const before = setup.pages.map((page) => client.read(page.query, page.variables));
  before.forEach((held, i) => held || problems.push(`page ${setup.pages[i].name} was not held before the mutation`));
  const sent = requests;
  const data = await client.mutate(name, MUTATIONS[name], setup.variables);
  const payload = data[name];
  if (payload.errors.length) problems.push(`the mutation failed: ${JSON.stringify(payload.errors)}`);
  if (payload.token) token = payload.token;
  const cached = setup.pages.map((page) => client.read(page.query, page.variables));
  if (requests - sent !== 1) problems.push(`${requests - sent} requests for the mutation and the reads, not 1`);
  const truth = [];
  for (const page of setup.pages) truth.push(await server.gql(page.query, page.variables, token));
  setup.pages.forEach((page, i) => {
    if (!cached[i]) problems.push(`page ${page.name} is no longer whole in the cache`);
    else if (!same(cached[i], truth[i]))
      problems.push(
        `page ${page.name}: the cache holds ${JSON.stringify(canonical(cached[i]))} but the server answers ${JSON.stringify(canonical(truth[i]))}`,
      );
  });
  if (same(before, truth)) problems.push("the mutation changed nothing on the pages held: the case proves nothing");
  problems.push(...warnings.splice(0));
  return problems;
}

for (const name of Object.keys(CASES)) {
  let problems;
  try {
    problems = await runCase(name);
  } catch (error) {
    problems = [`${error?.stack ?? error}`];
  }
  process.stdout.write(`${JSON.stringify({ case: name, problems })}\n`);
}
