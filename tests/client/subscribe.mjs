// A graphql-ws (graphql-transport-ws) subscriber on one server while comments are added
// through another: node subscribe.mjs WS_URL HTTP_URL COUNT
// Prints one JSON line: the comment ids the mutations returned and the ones that arrived.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { collect, liveArticle } from "./live.mjs";

const [wsUrl, httpUrl, countText] = process.argv.slice(2);
const { token, slug, addComment } = await liveArticle(httpUrl, "sub");

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: false,
  retryAttempts: 0,
});
const request = {
  query: `subscription OnComment($slug: String!) {
    commentAdded(articleSlug: $slug) { id body author { username } article { slug } }
  }`,
  variables: { slug },
};
const { sent, received } = await collect((sink) => client.subscribe(request, sink), addComment, Number(countText));
await client.dispose();
console.log(JSON.stringify({ slug, sent, received }));
