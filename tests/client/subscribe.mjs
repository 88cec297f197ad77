// A graphql-ws (graphql-transport-ws) subscriber on one server while comments are added
// through another: node subscribe.mjs WS_URL HTTP_URL COUNT
// Prints one JSON line: the comment ids the mutations returned and the ones that arrived.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [wsUrl, httpUrl, countText] = process.argv.slice(2);
const count = Number(countText);
const suffix = `${process.pid}${Date.now() % 100000}`;

async function gql(query, variables, token) {
  const response = await fetch(httpUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) throw new Error(JSON.stringify(body));
  return body.data;
}

const { register } = await gql(
  `mutation Register($input: RegisterInput!) { register(input: $input) { token errors { message } } }`,
  { input: { username: `sub${suffix}`, email: `sub${suffix}@example.com`, password: "password123" } },
);
const token = register.token;
const { createArticle } = await gql(
  `mutation Create($input: CreateArticleInput!) { createArticle(input: $input) { article { slug } } }`,
  { input: { title: `Live ${suffix}`, description: "d", body: "b" } },
  token,
);
const slug = createArticle.article.slug;

async function addComment(body) {
  const { addComment } = await gql(
    `mutation Add($input: AddCommentInput!) { addComment(input: $input) { comment { id } errors { message } } }`,
    { input: { articleSlug: slug, body } },
    token,
  );
  if (addComment.errors.length) throw new Error(JSON.stringify(addComment.errors));
  return addComment.comment.id;
}

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: false,
  retryAttempts: 0,
});

const received = [];
let warmedUp = null;
const warm = new Promise((resolve) => (warmedUp = resolve));
let finished = null;
const done = new Promise((resolve) => (finished = resolve));

const unsubscribe = client.subscribe(
  {
    query: `subscription OnComment($slug: String!) {
      commentAdded(articleSlug: $slug) { id body author { username } article { slug } }
    }`,
    variables: { slug },
  },
  {
    next: (result) => {
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      const comment = result.data.commentAdded;
      if (comment.body.startsWith("warm-up")) warmedUp();
      else received.push(comment);
      if (received.length >= count) setTimeout(finished, 500); // linger: anything extra shows up
    },
    error: (error) => {
      console.error("subscription error", error);
      process.exit(2);
    },
    complete: () => {},
  },
);

// The subscription is live once a warm-up comment comes back; keep adding them until one does.
let ready = false;
warm.then(() => (ready = true));
for (let attempt = 0; !ready; attempt++) {
  if (attempt > 300) throw new Error("the subscription never received a warm-up comment");
  await addComment(`warm-up ${attempt}`);
  await Promise.race([warm, new Promise((r) => setTimeout(r, 100))]);
}

const sent = [];
for (let n = 0; n < count; n++) sent.push(await addComment(`comment ${n}`));
await Promise.race([done, new Promise((r) => setTimeout(r, 60000))]); // generous: a busy machine
unsubscribe();
await client.dispose();
console.log(JSON.stringify({ slug, sent, received }));
