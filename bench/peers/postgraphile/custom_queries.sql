-- PostGraphile's documented way to add a query its generated schema lacks: a STABLE SQL
-- function, exposed as a root field (`peerPopularTags`, `peerArticlesTagged`). The Amber preset can
-- neither order tags by how many articles carry them nor order a tag's articles by the
-- articles' own columns, and the home and tag-feed pages need both. Each function reads the
-- rows our server reads, in our order (db/tags.py `_MOST_USED`; db/articles.py, newest first),
-- and is a plain SQL body PostgreSQL inlines into PostGraphile's query. `python -m bench.generate`
-- installs it (idempotent) into its own schema, so the project's tables stay as migrated.
CREATE SCHEMA IF NOT EXISTS peer;

CREATE OR REPLACE FUNCTION peer.popular_tags() RETURNS SETOF public.tags
LANGUAGE sql STABLE AS $$
  SELECT t.*
  FROM public.tags t JOIN public.article_tags l ON l.tag_id = t.id
  GROUP BY t.id
  ORDER BY count(l.article_id) DESC, t.id
$$;

CREATE OR REPLACE FUNCTION peer.articles_tagged(tag text) RETURNS SETOF public.articles
LANGUAGE sql STABLE AS $$
  SELECT a.*
  FROM public.articles a
  WHERE a.id IN (
    SELECT l.article_id FROM public.article_tags l JOIN public.tags t ON t.id = l.tag_id
    WHERE t.name = tag
  )
  ORDER BY a.created_at DESC, a.id DESC
$$;
