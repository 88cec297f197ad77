// urql (@urql/core) with graphcache for run.mjs, configured by urql-cache.mjs.
import { Client, fetchExchange, gql } from "@urql/core";
import { conduitCacheExchange } from "./urql-cache.mjs";

export function makeClient(url, token, fetch, withUpdates = true) {
  const client = new Client({
    url,
    fetch,
    exchanges: [conduitCacheExchange({ withUpdates }), fetchExchange],
    fetchOptions: () => ({ headers: token() ? { authorization: `Bearer ${token()}` } : {} }),
  });
  const documents = new Map();
  const doc = (text) => {
    if (!documents.has(text)) documents.set(text, gql(text));
    return documents.get(text);
  };
  const settled = (result) => {
    if (result.error) throw result.error;
    return result.data;
  };
  return {
    async query(text, variables) {
      return settled(await client.query(doc(text), variables).toPromise());
    },
    read(text, variables) {
      const result = client.readQuery(doc(text), variables);
      return result && !result.error ? (result.data ?? null) : null;
    },
    async mutate(_name, text, variables) {
      return settled(await client.mutation(doc(text), variables).toPromise());
    },
  };
}
