# syntax=docker/dockerfile:1
# Multi-stage build of the worker: compile with the dev dependencies, ship without them.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.base.json tsconfig.build.json tsconfig.ui.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# The generated admin token goes to the volume: /app is not the node user's to write.
ENV NODE_ENV=production \
    HTTP_PORT=9464 \
    PGLITE_DATA_DIR=/data/pglite \
    ADMIN_TOKEN_FILE=/data/admin-token
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9464
# Liveness: the process and its scheduler answer (/healthz asks nothing of the database: an outage of PostgreSQL
# does not mark every worker unhealthy). Readiness is /readyz, for orchestrators that gate on it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form): graceful shutdown within WORKER_SHUTDOWN_TIMEOUT_SECONDS.
# A young generation of up to 2 x 64 MiB: a quarter less CPU per run under load (README, Design decisions).
ENTRYPOINT ["node", "--max-semi-space-size=64", "dist/main.js"]
CMD ["worker"]
