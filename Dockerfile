# Webserver, daemon and code server image for the cmi_assets code locations.
# Production uses Postgres run/event storage (deploy/dagster.postgres.yaml); the DuckDB
# zones live on mounted volumes (the analysis zone at /data).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home \
    CMI_DATA_DIR=/data

# Two roles (docs/separation.md): the linker alone may open the identified zone, and the
# linker and the analyst share the analysis zone through the group cmi-analysis.
# deploy/docker-compose.yaml runs each code server as its role's user.
ARG LINKER_UID=1001
ARG ANALYST_UID=1002
ARG ANALYSIS_GID=1100
RUN groupadd --gid "$ANALYSIS_GID" cmi-analysis \
    && groupadd --gid "$LINKER_UID" linker \
    && groupadd --gid "$ANALYST_UID" analyst \
    && useradd --uid "$LINKER_UID" --gid linker --groups cmi-analysis --create-home --shell /usr/sbin/nologin linker \
    && useradd --uid "$ANALYST_UID" --gid analyst --groups cmi-analysis --create-home --shell /usr/sbin/nologin analyst

WORKDIR /opt/cmi_assets
COPY pyproject.toml README.md workspace.yaml ./
COPY deploy ./deploy
COPY cmi_assets ./cmi_assets
COPY dbt_like_sql ./dbt_like_sql
RUN pip install -e '.[postgres]' \
    && mkdir -p "$DAGSTER_HOME" /data \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && chmod 0755 deploy/entrypoint.sh deploy/prepare-volumes.sh \
    && chgrp cmi-analysis "$DAGSTER_HOME" && chmod 2770 "$DAGSTER_HOME"

EXPOSE 3000
# entrypoint.sh: files a process creates are writable by its group (the shared analysis zone)
ENTRYPOINT ["/opt/cmi_assets/deploy/entrypoint.sh"]
# The same image runs the daemon: `docker run ... dagster-daemon run -w workspace.yaml`
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
