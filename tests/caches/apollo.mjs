// Apollo Client 4 (InMemoryCache, HttpLink) for run.mjs, configured by apollo-cache.mjs.
import { ApolloClient, HttpLink, gql } from "@apollo/client";
import { conduitCache, updates } from "./apollo-cache.mjs";

export function makeClient(url, token, fetch, withUpdates = true) {
  const link = new HttpLink({
    uri: url,
    fetch: (input, init) => {
      const headers = new Headers(init.headers);
      if (token()) headers.set("authorization", `Bearer ${token()}`);
      return fetch(input, { ...init, headers });
    },
  });
  const client = new ApolloClient({ link, cache: conduitCache() });
  const documents = new Map();
  const doc = (text) => {
    if (!documents.has(text)) documents.set(text, gql(text));
    return documents.get(text);
  };
  return {
    async query(text, variables) {
      return (await client.query({ query: doc(text), variables })).data;
    },
    read(text, variables) {
      return client.readQuery({ query: doc(text), variables });
    },
    async mutate(name, text, variables) {
      return (await client.mutate({ mutation: doc(text), variables, update: withUpdates ? updates[name] : undefined })).data;
    },
  };
}
