// Apollo Client 4 with its persisted-queries link, as a frontend sets it up, against live servers.
//
// node apq.mjs FIRST_URL SECOND_URL post|get
//
// Each query is sent twice, each time by a new client (an empty cache): first to FIRST_URL, where
// the hash is unknown, so the link must retry with the query; then to SECOND_URL, another server
// process, which must know the hash from the shared store. Prints one JSON line: every request the
// links sent ({server, method, hashOnly, status, codes}) and every result's data.
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [first, second, mode] = process.argv.slice(2);
const useGET = mode === "get";

// Distinct texts per mode, so that each run starts from hashes the servers do not know.
const QUERIES = [
  `query Tags_${mode} { tags(first: 5) { name articleCount } }`,
  `query Latest_${mode}($first: Int!) { articles(first: $first) { totalCount nodes { slug title author { username } } } }`,
  `query Profile_${mode}($username: String!) { user(username: $username) { username bio followersCount } }`,
  `query Typename_${mode} { __typename }`,
];
const VARIABLES = [{}, { first: 3 }, { username: "nobody" }, {}];

const sent = [];

function recordingFetch(server) {
  return async (url, init) => {
    const method = init?.method ?? "GET";
    const body = method === "POST" ? JSON.parse(init.body) : null;
    const params = new URL(url).searchParams;
    const hashOnly = method === "POST" ? body.query === undefined : !params.has("query");
    const response = await fetch(url, init);
    const text = await response.clone().text();
    const codes = (JSON.parse(text).errors ?? []).map((error) => error.extensions?.code);
    sent.push({ server, method, hashOnly, status: response.status, codes });
    return response;
  };
}

function client(url, server) {
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: useGET,
  });
  const http = new HttpLink({ uri: url, fetch: recordingFetch(server) });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

const results = [];
for (const [server, url] of [["first", first], ["second", second]]) {
  for (const [index, text] of QUERIES.entries()) {
    const { data, error } = await client(url, server).query({
      query: gql(text),
      variables: VARIABLES[index],
      fetchPolicy: "network-only",
    });
    if (error) throw error;
    results.push({ server, data });
  }
}
console.log(JSON.stringify({ sent, results }));
