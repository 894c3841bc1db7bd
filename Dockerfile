# Spillway image: docker build -t spillway:0.1.0 .
#
# Node 22 is the active LTS line and what some production dependencies ask for in their
# "engines"; the test suite also runs on Node 20. Override with --build-arg NODE_VERSION=20.
ARG NODE_VERSION=22

# Build stage: install exactly the lockfile and compile TypeScript.
# `npm ci` runs this package's own `prepare` script (tsc -p tsconfig.json → dist/), so it
# must not be given --ignore-scripts. Install scripts of dependencies are not needed: the
# esbuild and snappy binaries come as optional platform packages, and npm versions that gate
# dependency scripts (npm 11 "allowScripts") only warn about them.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund \
 && test -f dist/main.js \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled code and production dependencies only, as a non-root user.
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json: "type": "module" for bin/, and the version Spillway reports.
COPY package.json ./
COPY bin ./bin
# The spool lives on /data. A new named volume copies this directory's owner, so the
# non-root user can write it; a bind mount or a PVC needs the same uid (1000, "node") or an
# fsGroup.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8480
# Spillway drains on SIGTERM: /-/ready turns 503 for -http.shutdownDelay, in-flight requests
# get -http.gracePeriod. Give the container at least their sum before it is killed
# (docker stop -t, compose stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Readiness, not liveness: an orchestrator or load balancer should only send writes to a
# Spillway whose spools are recovered and that is not draining. Assumes the default
# -httpListenAddr=:8480.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8480/-/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself. Flags given as the container's
# command (compose `command:`, Kubernetes `args:`) are appended to these.
ENTRYPOINT ["node", "bin/spillway.js", "-spool.path=/data"]
