# The Conduit GraphQL server. Build: docker build -t conduit-graphql .
# Run:   docker run -p 8000:8000 -v conduit-data:/data -e SECRET_KEY="$(openssl rand -hex 32)" conduit-graphql
# It runs in production mode (no GraphiQL, no introspection) on SQLite in /data by default; set
# DATABASE_URL for PostgreSQL (docker-compose.yml does) and ENVIRONMENT=development for GraphiQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The locked dependency set (requirements.lock, hash-checked) first: a code change reuses this layer.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-compile -r /tmp/requirements.lock && rm /tmp/requirements.lock

# The app itself, as a wheel would install it (migrations included), without its sources.
COPY pyproject.toml README.md /src/
COPY db /src/db
COPY graph /src/graph
COPY migrations /src/migrations
RUN pip install --no-compile --no-deps /src && rm -rf /src \
    && useradd --system --no-create-home --home-dir /data conduit \
    && mkdir /data && chown conduit:conduit /data

# The SQLite database lives in /data, a volume owned by the unprivileged user.
USER conduit
WORKDIR /data
VOLUME /data

ENV HOST=0.0.0.0 PORT=8000 ENVIRONMENT=production DATABASE_URL=sqlite+aiosqlite:////data/conduit.db
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready').status != 200)"
CMD ["sh", "-c", "conduit migrate && exec conduit serve"]
