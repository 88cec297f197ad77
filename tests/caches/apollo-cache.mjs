// Apollo Client's InMemoryCache for Conduit, as README "Caches that update themselves" shows it:
// the type policies, and the `update` of each mutation that adds to or removes from a cached
// list (what no payload can do for a cache). Everything else a mutation changes comes back in
// its payload with its id, and the cache applies it by itself.
import { InMemoryCache, gql } from "@apollo/client";

export function conduitCache() {
  return new InMemoryCache({
    typePolicies: {
      // Connections have no id: a page lives in its parent's field (one per set of arguments).
      // `merge: true` merges fields a payload brings (a totalCount) into the page already held.
      ArticleConnection: { merge: true },
      CommentConnection: { merge: true },
      Tag: { keyFields: ["name"] },
    },
  });
}

// Whether a cached `articles(...)` list is the unfiltered one (its arguments are in the name).
const VIEWER_ID = gql`query ViewerId { viewer { id } }`;

const unfiltered = (storeFieldName) => !/"filter":\{"/.test(storeFieldName);

function prepend(page, ref, readField) {
  if (page.nodes.some((node) => readField("id", node) === readField("id", ref))) return page;
  return { ...page, totalCount: page.totalCount + 1, nodes: [ref, ...page.nodes] };
}

function append(page, ref) {
  // Oldest first: the new item belongs on the held page when that page reaches the end.
  const atEnd = page.nodes.length >= page.totalCount;
  return { ...page, totalCount: page.totalCount + 1, nodes: atEnd ? [...page.nodes, ref] : page.nodes };
}

function remove(page, id, readField) {
  const nodes = page.nodes.filter((node) => readField("id", node) !== id);
  return nodes.length === page.nodes.length ? page : { ...page, totalCount: page.totalCount - 1, nodes };
}

export const updates = {
  createArticle(cache, { data }) {
    const article = data.createArticle.article;
    if (!article) return;
    const ref = cache.identify(article);
    cache.modify({
      fields: {
        articles: (page, { storeFieldName, readField, toReference, DELETE }) =>
          unfiltered(storeFieldName) ? prepend(page, toReference(ref), readField) : DELETE,
      },
    });
    cache.modify({
      id: cache.identify(article.author),
      fields: { articles: (page, { readField, toReference }) => prepend(page, toReference(ref), readField) },
    });
  },

  deleteArticle(cache, { data }) {
    const { deletedIds, author } = data.deleteArticle;
    if (deletedIds.length === 0) return;
    const [articleId, ...commentIds] = deletedIds; // the article, then its comments
    const removed = (page, { readField }) => remove(page, articleId, readField);
    cache.modify({ fields: { articles: removed } });
    cache.modify({ id: cache.identify(author), fields: { articles: removed } });
    cache.evict({ id: cache.identify({ __typename: "Article", id: articleId }) });
    for (const id of commentIds) cache.evict({ id: cache.identify({ __typename: "Comment", id }) });
    cache.gc(); // other lists that held the article drop it as they are read (dangling references)
  },

  favoriteArticle(cache, { data }) {
    const { article, viewer } = data.favoriteArticle;
    if (!article) return;
    cache.modify({
      id: cache.identify(viewer.user),
      fields: {
        // Most recently favorited first.
        favorites: (page, { readField, toReference }) => prepend(page, toReference(cache.identify(article)), readField),
      },
    });
  },

  unfavoriteArticle(cache, { data }) {
    const { article, viewer } = data.unfavoriteArticle;
    if (!article) return;
    cache.modify({
      id: cache.identify(viewer.user),
      fields: { favorites: (page, { readField }) => remove(page, article.id, readField) },
    });
  },

  addComment(cache, { data }) {
    const { comment, article } = data.addComment;
    if (!comment) return;
    cache.modify({
      id: cache.identify(article),
      fields: {
        comments: (page, { toReference }) => append(page, toReference(cache.identify(comment))),
      },
    });
  },

  deleteComment(cache, { data }) {
    const { deletedIds, article } = data.deleteComment;
    if (deletedIds.length === 0) return;
    cache.modify({
      id: cache.identify(article),
      fields: { comments: (page, { readField }) => remove(page, deletedIds[0], readField) },
    });
    cache.evict({ id: cache.identify({ __typename: "Comment", id: deletedIds[0] }) });
    cache.gc();
  },

  // Signing in: the new viewer becomes Query.viewer. (What was read anonymously, `following`
  // and `favorited`, is now out of date: `client.resetStore()` refetches the pages shown.)
  register(cache, { data }) {
    if (data.register.viewer) cache.writeQuery({ query: VIEWER_ID, data: { viewer: data.register.viewer } });
  },
  login(cache, { data }) {
    if (data.login.viewer) cache.writeQuery({ query: VIEWER_ID, data: { viewer: data.login.viewer } });
  },
};
