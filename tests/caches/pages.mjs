// What a Conduit frontend's pages hold, the mutations it sends, and one case per mutation:
// the data a case sets up (through plain fetch), the pages it reads into the client's cache,
// the mutation it sends through the client. run.mjs drives a client through every case.

const ARTICLE_CARD = `
  fragment ArticleCard on Article {
    id slug title description tagList favorited favoritesCount commentsCount
    author { id username following }
  }`;

export const PAGES = {
  home: `query Home { articles(first: 20) { totalCount nodes { ...ArticleCard } } } ${ARTICLE_CARD}`,
  article: `query ArticlePage($slug: String!) {
    article(slug: $slug) {
      ...ArticleCard body updatedAt
      comments(first: 20) { totalCount nodes { id body author { id username } } }
    }
  } ${ARTICLE_CARD}`,
  profile: `query Profile($username: String!) {
    user(username: $username) {
      id username bio image following followersCount followingCount articlesCount
      articles(first: 20) { totalCount nodes { ...ArticleCard } }
      favorites(first: 20) { totalCount nodes { id slug favorited favoritesCount } }
    }
  } ${ARTICLE_CARD}`,
  viewer: `query Me { viewer { id email user { id username bio image followingCount articlesCount } } }`,
};

const ERRORS = "errors { field message code }";
const SIGNED_IN = `token viewer { id email user { id username bio image followingCount articlesCount } } ${ERRORS}`;

export const MUTATIONS = {
  favoriteArticle: `mutation Favorite($slug: String!) {
    favoriteArticle(slug: $slug) { article { ...ArticleCard } viewer { id user { id } } ${ERRORS} }
  } ${ARTICLE_CARD}`,
  unfavoriteArticle: `mutation Unfavorite($slug: String!) {
    unfavoriteArticle(slug: $slug) { article { ...ArticleCard } viewer { id user { id } } ${ERRORS} }
  } ${ARTICLE_CARD}`,
  followUser: `mutation Follow($username: String!) {
    followUser(username: $username) {
      user { id following followersCount } viewer { id user { id followingCount } } ${ERRORS}
    }
  }`,
  unfollowUser: `mutation Unfollow($username: String!) {
    unfollowUser(username: $username) {
      user { id following followersCount } viewer { id user { id followingCount } } ${ERRORS}
    }
  }`,
  createArticle: `mutation Create($input: CreateArticleInput!) {
    createArticle(input: $input) {
      article { ...ArticleCard body updatedAt author { id articlesCount } } ${ERRORS}
    }
  } ${ARTICLE_CARD}`,
  updateArticle: `mutation Update($input: UpdateArticleInput!) {
    updateArticle(input: $input) { article { ...ArticleCard body updatedAt } ${ERRORS} }
  } ${ARTICLE_CARD}`,
  deleteArticle: `mutation DeleteArticle($slug: String!) {
    deleteArticle(slug: $slug) { deletedIds author { id articlesCount } ${ERRORS} }
  }`,
  addComment: `mutation AddComment($input: AddCommentInput!) {
    addComment(input: $input) {
      comment { id body author { id username } } article { id commentsCount } ${ERRORS}
    }
  }`,
  deleteComment: `mutation DeleteComment($id: ID!) {
    deleteComment(id: $id) { deletedIds article { id commentsCount } ${ERRORS} }
  }`,
  updateViewer: `mutation UpdateViewer($input: UpdateViewerInput!) {
    updateViewer(input: $input) { viewer { id email user { id username bio image } } ${ERRORS} }
  }`,
  register: `mutation Register($input: RegisterInput!) { register(input: $input) { ${SIGNED_IN} } }`,
  login: `mutation Login($input: LoginInput!) { login(input: $input) { ${SIGNED_IN} } }`,
};

/** Plain GraphQL over fetch, no cache: how cases set up their data, and the truth a cache is held to. */
export function api(url) {
  async function gql(query, variables = {}, token = null) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (response.status !== 200 || body.errors) throw new Error(`${response.status} ${JSON.stringify(body)}`);
    return body.data;
  }
  let serial = 0;
  const run = `${process.pid}${Date.now() % 100000}`;
  return {
    gql,
    async user(name) {
      const username = `${name}${run}${serial++}`;
      const email = `${username}@example.com`;
      const { register } = await gql(
        `mutation($input: RegisterInput!) { register(input: $input) { token errors { message } } }`,
        { input: { username, email, password: "a long password" } },
      );
      return { username, email, password: "a long password", token: register.token };
    },
    async article(author, title) {
      const { createArticle } = await gql(
        `mutation($input: CreateArticleInput!) { createArticle(input: $input) { article { id slug } } }`,
        { input: { title: `${title} ${run}${serial++}`, description: "d", body: "b", tagList: ["caches"] } },
        author.token,
      );
      return createArticle.article;
    },
    async comment(author, article, body) {
      const { addComment } = await gql(
        `mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }`,
        { input: { articleSlug: article.slug, body } },
        author.token,
      );
      return addComment.comment;
    },
    async do(mutation, variables, who) {
      await gql(MUTATIONS[mutation], variables, who.token);
    },
  };
}

const page = (name, variables = {}) => ({ name, query: PAGES[name], variables });

/** Each case: `setup(api)` makes its data and returns who is signed in (`viewer`, null for
 * none), the pages to hold, and the mutation's variables. */
export const CASES = {
  async favoriteArticle(a) {
    const [author, viewer] = [await a.user("author"), await a.user("fan")];
    const article = await a.article(author, "Liked");
    const pages = [page("home"), page("article", { slug: article.slug }), page("profile", { username: viewer.username })];
    return { viewer, pages, variables: { slug: article.slug } };
  },
  async unfavoriteArticle(a) {
    const [author, viewer] = [await a.user("author"), await a.user("fan")];
    const article = await a.article(author, "Unliked");
    await a.do("favoriteArticle", { slug: article.slug }, viewer);
    const pages = [page("home"), page("article", { slug: article.slug }), page("profile", { username: viewer.username })];
    return { viewer, pages, variables: { slug: article.slug } };
  },
  async followUser(a) {
    const [star, viewer] = [await a.user("star"), await a.user("fan")];
    await a.article(star, "Followed");
    const pages = [page("home"), page("profile", { username: star.username }), page("viewer")];
    return { viewer, pages, variables: { username: star.username } };
  },
  async unfollowUser(a) {
    const [star, viewer] = [await a.user("star"), await a.user("fan")];
    await a.article(star, "Unfollowed");
    await a.do("followUser", { username: star.username }, viewer);
    const pages = [page("home"), page("profile", { username: star.username }), page("viewer")];
    return { viewer, pages, variables: { username: star.username } };
  },
  async createArticle(a) {
    const viewer = await a.user("writer");
    await a.article(viewer, "Earlier");
    const pages = [page("home"), page("profile", { username: viewer.username }), page("viewer")];
    const input = { title: `Fresh ${viewer.username}`, description: "new", body: "text", tagList: ["caches"] };
    return { viewer, pages, variables: { input } };
  },
  async updateArticle(a) {
    const viewer = await a.user("editor");
    const article = await a.article(viewer, "Edited");
    const pages = [page("home"), page("article", { slug: article.slug }), page("profile", { username: viewer.username })];
    const input = { slug: article.slug, description: "changed", body: "rewritten", tagList: ["caches", "edited"] };
    return { viewer, pages, variables: { input } };
  },
  async deleteArticle(a) {
    const [viewer, reader] = [await a.user("writer"), await a.user("reader")];
    await a.article(viewer, "Kept");
    const gone = await a.article(viewer, "Gone");
    await a.comment(reader, gone, "first");
    await a.comment(viewer, gone, "second");
    const pages = [page("home"), page("profile", { username: viewer.username }), page("viewer")];
    return { viewer, pages, variables: { slug: gone.slug } };
  },
  async addComment(a) {
    const [author, viewer] = [await a.user("author"), await a.user("critic")];
    const article = await a.article(author, "Discussed");
    await a.comment(author, article, "first");
    const pages = [page("home"), page("article", { slug: article.slug })];
    return { viewer, pages, variables: { input: { articleSlug: article.slug, body: "a new comment" } } };
  },
  async deleteComment(a) {
    const [author, viewer] = [await a.user("author"), await a.user("critic")];
    const article = await a.article(author, "Retracted");
    await a.comment(viewer, article, "kept");
    const gone = await a.comment(viewer, article, "gone");
    const pages = [page("home"), page("article", { slug: article.slug })];
    return { viewer, pages, variables: { id: gone.id } };
  },
  async updateViewer(a) {
    const viewer = await a.user("mover");
    const pages = [page("viewer"), page("profile", { username: viewer.username })];
    const input = { email: `new.${viewer.email}`, bio: "moved", image: "https://example.com/me.png" };
    return { viewer, pages, variables: { input } };
  },
  async register(a) {
    const pages = [page("viewer")];
    const username = `newcomer${process.pid}${Date.now() % 100000}`;
    const input = { username, email: `${username}@example.com`, password: "a long password" };
    return { viewer: null, pages, variables: { input } };
  },
  async login(a) {
    const account = await a.user("returning");
    const pages = [page("viewer")];
    return { viewer: null, pages, variables: { input: { email: account.email, password: account.password } } };
  },
};
