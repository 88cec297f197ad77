// Runs the graphql-http server audits against the URL given as the first argument and
// prints the results as one JSON array: [{id, name, status, reason}], status being
// "ok", "warn", "notice" or "error". Used by tests/transport/test_http.py.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
const results = await auditServer({ url });
console.log(
  JSON.stringify(
    results.map(({ id, name, status, reason }) => ({ id, name, status, reason: reason ?? null })),
  ),
);
