# Webserver + daemon image for the cmi_assets code location.
# Production uses Postgres run/event storage (deploy/dagster.postgres.yaml); the DuckDB
# zones live on a mounted volume at /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    CMI_DATA_DIR=/data

WORKDIR /opt/cmi_assets
COPY pyproject.toml README.md workspace.yaml ./
COPY deploy ./deploy
COPY cmi_assets ./cmi_assets
COPY dbt_like_sql ./dbt_like_sql
RUN pip install -e '.[postgres]' \
    && mkdir -p "$DAGSTER_HOME" /data \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

EXPOSE 3000
# The same image runs the daemon: `docker run ... dagster-daemon run -w workspace.yaml`
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
