# aftersales-monitor worker image: `docker build -t aftersales-monitor .`
# Exact Python patch release and Debian base (3.11.16: 3.11's latest security release
# known here); bump deliberately, together with deploy/constraints.txt.
FROM python:3.11.16-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The build context is filtered by .dockerignore (no .venv, .git, tests, and of deploy/
# only constraints.txt). PIP_CONSTRAINT pins every dependency and the build backend
# (the isolated build environment obeys it too).
WORKDIR /src
COPY . .
RUN PIP_CONSTRAINT=/src/deploy/constraints.txt pip install . && rm -rf /src

# Faust keeps its local table state in the working directory.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/aftersales aftersales
USER aftersales
WORKDIR /var/lib/aftersales

# Web port: /metrics for Prometheus. The worker binds 127.0.0.1 unless told otherwise;
# inside a container the published port must reach it, so bind every interface here.
ENV AFTERSALES_WEB_HOST=0.0.0.0
EXPOSE 6066

CMD ["aftersales", "worker"]
