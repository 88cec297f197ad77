# The Conduit GraphQL server. Build: docker build -t conduit-graphql .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY db ./db
COPY graph ./graph
COPY migrations ./migrations
# Optional extras, e.g. `--build-arg EXTRAS=otel` for OpenTelemetry tracing (README "Observability").
ARG EXTRAS=""
RUN pip install --no-compile -e ".${EXTRAS:+[$EXTRAS]}" && useradd --system --no-create-home conduit
USER conduit

ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready').status != 200)"
CMD ["sh", "-c", "conduit migrate && exec conduit serve"]
