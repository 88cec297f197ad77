// The npm graphql-sse client subscribed on one server while comments are added through another:
//   node subscribe.mjs STREAM_URL HTTP_URL COUNT single|distinct
// prints one JSON line: the comment ids the mutations returned and the ones that arrived.
//   node subscribe.mjs STREAM_URL HTTP_URL LIMIT refusals
// prints one JSON line: what the client was told of a bad token, another origin, a query past
// the depth limit, and a subscription past LIMIT on one stream.
import { createClient } from "graphql-sse";
import { collect, liveArticle } from "../client/live.mjs";

const [streamUrl, httpUrl, countText, mode] = process.argv.slice(2);
const count = Number(countText);
const { token, slug, addComment } = await liveArticle(httpUrl, "sse");
const onComment = {
  query: `subscription OnComment($slug: String!) {
    commentAdded(articleSlug: $slug) { id body author { username } article { slug } }
  }`,
  variables: { slug },
};

/** The first thing a subscription tells its sink: a result, an error or its completion. */
function firstWord(client, request) {
  return new Promise((resolve) => {
    client.subscribe(request, {
      next: (result) => resolve({ next: result }),
      error: (error) => resolve({ error: String(error.message ?? error) }),
      complete: () => resolve({ complete: true }),
    });
  });
}

if (mode === "refusals") {
  const clients = [];
  const client = (headers, singleConnection = false) => {
    clients.push(createClient({ url: streamUrl, headers, singleConnection, retryAttempts: 0 }));
    return clients.at(-1);
  };
  const deep = "{ viewer { user { articles { nodes { author { articles { nodes { author { username } } } } } } } } }";
  const refused = {
    badToken: await firstWord(client({ authorization: "Bearer not-a-token" }), onComment),
    badTokenSingle: await firstWord(client({ authorization: "Bearer not-a-token" }, true), onComment),
    otherOrigin: await firstWord(client({ origin: "https://evil.example" }), onComment),
    tooDeep: await firstWord(client({}), { query: deep }),
  };
  // LIMIT subscriptions run on one stream; the next one is refused for its id.
  const signedIn = client({ authorization: `Bearer ${token}` }, true);
  const running = [];
  for (let n = 0; n < count; n++) running.push(firstWord(signedIn, onComment));
  await new Promise((r) => setTimeout(r, 1000)); // all of them running
  refused.overLimit = await firstWord(signedIn, onComment);
  await addComment("for the running ones");
  refused.running = (await Promise.all(running)).map((word) => word.next?.data?.commentAdded?.body);
  for (const each of clients) each.dispose();
  console.log(JSON.stringify(refused));
} else {
  const client = createClient({
    url: streamUrl,
    singleConnection: mode === "single",
    headers: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const { sent, received } = await collect((sink) => client.subscribe(onComment, sink), addComment, count);
  await new Promise((r) => setTimeout(r, 200)); // the single connection mode's DELETE goes out
  client.dispose();
  console.log(JSON.stringify({ slug, sent, received }));
}
