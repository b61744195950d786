# dedup-pool image: `dedup-pool replica` under tini, as a non-root user, production
# dependencies only. A handler is added by an image FROM this one (docs/kubernetes.md):
#
#   FROM dedup-pool:0.1.0
#   COPY handler.mjs /app/handler/handler.mjs
#
# BASE_IMAGE: a Debian-based Node 20+ image (tini is installed with apt-get).
ARG BASE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript to dist/ -------------------------------------------
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's own prepare step builds, and it runs below with the sources.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY bench ./bench
RUN npm run build

# ---- production dependencies only -------------------------------------------------
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dedup \
 && useradd --system --uid 10001 --gid dedup --home-dir /app --shell /usr/sbin/nologin dedup
ENV NODE_ENV=production \
    DEDUP_HANDLER=/app/handler/handler.mjs \
    DEDUP_ADMIN=0.0.0.0:9464 \
    DEDUP_LOG_FORMAT=json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# Read at run time: the inbox mode's SQL, the supervisor's dashboard page.
COPY migrations ./migrations
COPY src/supervisor/dashboard.html ./src/supervisor/dashboard.html
RUN ln -s /app/bin/dedup-pool.js /usr/local/bin/dedup-pool && mkdir -p /app/handler
# Files stay root's: the pool reads its code and the handler, and writes nowhere but /tmp.
USER 10001:10001
EXPOSE 9464
# tini is PID 1: it passes SIGTERM to dedup-pool (which drains) and reaps what exits.
ENTRYPOINT ["/usr/bin/tini", "--", "dedup-pool"]
CMD ["replica"]
