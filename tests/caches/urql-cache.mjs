// urql's graphcache for Conduit, as README "Caches that update themselves" shows it: the keys
// of the types that have no id, and the `updates` of each mutation that adds to or removes
// from a cached list (what no payload can do for a cache). Everything else a mutation changes
// comes back in its payload with its id, and graphcache applies it by itself.
import { gql } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";

// Objects without an id are embedded in their parent (a page in its parent's field).
const embedded = () => null;
export const keys = {
  ArticleConnection: embedded,
  ArticleEdge: embedded,
  CommentConnection: embedded,
  CommentEdge: embedded,
  PageInfo: embedded,
  UserError: embedded,
  AuthPayload: embedded,
  UpdateViewerPayload: embedded,
  FollowPayload: embedded,
  ArticlePayload: embedded,
  CommentPayload: embedded,
  DeletePayload: embedded,
  Tag: (tag) => tag.name,
};

// A page of a list, read and written with the arguments it was cached under.
const PAGE = "totalCount nodes { id }";
const ARTICLES = gql`
  query ($first: Int, $after: String, $last: Int, $before: String, $filter: ArticleFilter) {
    articles(first: $first, after: $after, last: $last, before: $before, filter: $filter) { ${PAGE} }
  }`;
const LISTS = {
  articles: gql`fragment _ on User { id articles(first: $first, after: $after) { ${PAGE} } }`,
  favorites: gql`fragment _ on User { id favorites(first: $first, after: $after) { ${PAGE} } }`,
  comments: gql`fragment _ on Article { id comments(first: $first, after: $after) { ${PAGE} } }`,
};

/** Apply `change(page, args)` to every cached page of `field` on `entity` ("Query" or an entity). */
function changePages(cache, entity, field, change) {
  for (const { fieldName, arguments: args } of cache.inspectFields(entity)) {
    if (fieldName !== field) continue;
    if (entity === "Query") {
      cache.updateQuery({ query: ARTICLES, variables: args }, (data) => data && { ...data, articles: change(data.articles, args) });
    } else {
      const data = cache.readFragment(LISTS[field], entity, args);
      if (data) cache.writeFragment(LISTS[field], { ...data, [field]: change(data[field], args) }, args);
    }
  }
}

const prepend = (item) => (page) =>
  page.nodes.some((node) => node.id === item.id)
    ? page
    : { ...page, totalCount: page.totalCount + 1, nodes: [item, ...page.nodes] };
// Oldest first: the new item belongs on the held page when that page reaches the end.
const append = (item) => (page) => ({
  ...page,
  totalCount: page.totalCount + 1,
  nodes: page.nodes.length >= page.totalCount ? [...page.nodes, item] : page.nodes,
});
const remove = (id) => (page) => {
  const nodes = page.nodes.filter((node) => node.id !== id);
  return nodes.length === page.nodes.length ? page : { ...page, totalCount: page.totalCount - 1, nodes };
};

export const updates = {
  Mutation: {
    createArticle(result, _args, cache) {
      const article = result.createArticle.article;
      if (!article) return;
      // The unfiltered lists get it; a filtered one is dropped, to be fetched when next shown.
      for (const { fieldName, arguments: args } of cache.inspectFields("Query")) {
        if (fieldName === "articles" && args?.filter) cache.invalidate("Query", "articles", args);
      }
      changePages(cache, "Query", "articles", prepend(article));
      changePages(cache, article.author, "articles", prepend(article));
    },
    deleteArticle(result, _args, cache) {
      const { deletedIds, author } = result.deleteArticle;
      if (deletedIds.length === 0) return;
      const [articleId, ...commentIds] = deletedIds; // the article, then its comments
      changePages(cache, "Query", "articles", remove(articleId));
      changePages(cache, author, "articles", remove(articleId));
      cache.invalidate({ __typename: "Article", id: articleId });
      for (const id of commentIds) cache.invalidate({ __typename: "Comment", id });
    },
    favoriteArticle(result, _args, cache) {
      const { article, viewer } = result.favoriteArticle;
      if (article) changePages(cache, viewer.user, "favorites", prepend(article)); // most recent first
    },
    unfavoriteArticle(result, _args, cache) {
      const { article, viewer } = result.unfavoriteArticle;
      if (article) changePages(cache, viewer.user, "favorites", remove(article.id));
    },
    addComment(result, _args, cache) {
      const { comment, article } = result.addComment;
      if (comment) changePages(cache, article, "comments", append(comment));
    },
    deleteComment(result, _args, cache) {
      const { deletedIds, article } = result.deleteComment;
      if (deletedIds.length === 0) return;
      changePages(cache, article, "comments", remove(deletedIds[0]));
      cache.invalidate({ __typename: "Comment", id: deletedIds[0] });
    },
    // Signing in: the new viewer becomes Query.viewer. (What was read anonymously, `following`
    // and `favorited`, is now out of date: make a new Client for the signed-in session.)
    register(result, _args, cache) {
      if (result.register.viewer) cache.link("Query", "viewer", result.register.viewer);
    },
    login(result, _args, cache) {
      if (result.login.viewer) cache.link("Query", "viewer", result.login.viewer);
    },
  },
};

export const conduitCacheExchange = ({ withUpdates = true } = {}) =>
  cacheExchange({ keys, updates: withUpdates ? updates : {} });
