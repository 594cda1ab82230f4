# scriptbots: serves on 0.0.0.0:8000 as an unprivileged user (SPEC §9).
# The database comes from SCRIPTBOTS_DATABASE_URL; by default SQLite in the /app/var volume,
# where the generated secret key lives too (set SCRIPTBOTS_SECRET_KEY for several replicas).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libseccomp: the sandbox's system-call filter.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 scriptbots \
    && useradd --system --uid 10001 --gid scriptbots --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin scriptbots

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY sandbox ./sandbox
COPY migrations ./migrations
COPY web ./web
# Installed in place (editable): the service finds migrations/ and web/ beside its package.
RUN pip install -e . \
    && python -m compileall -q service sandbox migrations \
    && mkdir -p /app/var \
    && chown scriptbots:scriptbots /app/var

USER scriptbots
ENV SCRIPTBOTS_HOST=0.0.0.0 \
    SCRIPTBOTS_PORT=8000
EXPOSE 8000
VOLUME ["/app/var"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["scriptbots"]
CMD ["serve"]
