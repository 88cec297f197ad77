// What the subscription scripts share (tests/client/subscribe.mjs, tests/sse/subscribe.mjs):
// a new account with one article on the server at HTTP_URL, comments added to it, and the
// loop that waits for a live subscription, adds COUNT comments and collects what arrives.
// No npm package: tests/sse imports it with its own node_modules.

export async function liveArticle(httpUrl, prefix) {
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
    { input: { username: `${prefix}${suffix}`, email: `${prefix}${suffix}@example.com`, password: "password123" } },
  );
  const token = register.token;
  const { createArticle } = await gql(
    `mutation Create($input: CreateArticleInput!) { createArticle(input: $input) { article { slug } } }`,
    { input: { title: `Live ${prefix} ${suffix}`, description: "d", body: "b" } },
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
  return { token, slug, addComment };
}

/** Subscribe with `subscribe(sink)` (it returns the unsubscribe function), wait until a warm-up
 * comment arrives, add `count` comments and return {sent, received} once they came back. */
export async function collect(subscribe, addComment, count) {
  const received = [];
  let warmedUp = null;
  const warm = new Promise((resolve) => (warmedUp = resolve));
  let finished = null;
  const done = new Promise((resolve) => (finished = resolve));
  let stopped = false; // what a client says after it was told to stop is no failure
  const unsubscribe = subscribe({
    next: (result) => {
      if (result.errors) throw new Error(JSON.stringify(result.errors));
      const comment = result.data.commentAdded;
      if (comment.body.startsWith("warm-up")) warmedUp();
      else received.push(comment);
      if (received.length >= count) setTimeout(finished, 500); // linger: anything extra shows up
    },
    error: (error) => {
      if (stopped) return;
      console.error("subscription error", error);
      process.exit(2);
    },
    complete: () => {},
  });
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
  let timer = null;
  await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 60000)))]); // generous: a busy machine
  clearTimeout(timer); // or node would wait for it before exiting
  stopped = true;
  unsubscribe();
  return { sent, received };
}
