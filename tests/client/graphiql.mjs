// Opens GraphiQL in headless Chromium with every request off this machine refused, runs the
// query given in the URL and prints JSON: the result text, what was refused, console errors.
//   node graphiql.mjs http://127.0.0.1:PORT/graphql 'QUERY'
import { chromium } from "playwright-core";

const [url, query] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const refused = [];
const loaded = [];
const consoleErrors = [];
try {
  const page = await browser.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    if (["127.0.0.1", "localhost"].includes(target.hostname) || target.protocol === "data:") {
      loaded.push(target.pathname);
      return route.continue();
    }
    refused.push(target.href);
    return route.abort();
  });
  await page.goto(`${url}#query=${encodeURIComponent(query)}`, { waitUntil: "load" });
  await page.locator(".graphiql-execute-button").click({ timeout: 60000 });
  const response = page.locator(".graphiql-response .CodeMirror");
  await response.getByText('"data"').first().waitFor({ timeout: 60000 }); // generous: a busy machine
  const lines = await response.locator(".CodeMirror-line").allInnerTexts();
  console.log(JSON.stringify({ result: lines.join("\n"), refused, loaded, consoleErrors }));
} finally {
  await browser.close();
}
