-- Two views PostGraphile exposes as tables (`allPeerTagUsages`, `allPeerTaggedArticles`), its
-- documented way to serve what its generated schema lacks: the Amber preset can neither order
-- tags by how many articles carry them nor order a tag's articles by the articles' own columns,
-- and the home and tag-feed pages need both. Views, not set-returning SQL functions: PostgreSQL
-- inlines a view into PostGraphile's query, so the page's LIMIT and ORDER BY reach the indexes;
-- the functions tried first cost PostgreSQL ~100 times our database time on the tag feed.
-- Each view reads the rows our server reads (db/tags.py `_MOST_USED`; db/articles.py, a tag's
-- articles newest first). `python -m bench.generate` installs this (idempotent) into its own
-- schema, so the project's tables stay as migrated.
CREATE SCHEMA IF NOT EXISTS peer;

CREATE OR REPLACE VIEW peer.tag_usage AS
  SELECT t.id, t.name, count(l.article_id) AS article_count
  FROM public.tags t JOIN public.article_tags l ON l.tag_id = t.id
  GROUP BY t.id;

CREATE OR REPLACE VIEW peer.tagged_articles AS
  SELECT t.name AS tag, a.id AS article_id, a.created_at
  FROM public.article_tags l
  JOIN public.tags t ON t.id = l.tag_id
  JOIN public.articles a ON a.id = l.article_id;
COMMENT ON VIEW peer.tagged_articles IS E'@foreignKey (article_id) references public.articles (id)';
