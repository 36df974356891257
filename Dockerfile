# syntax=docker/dockerfile:1
# Build stage: dev dependencies and the TypeScript build.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
RUN npm ci --no-audit --no-fund && npm run build

# Run stage: a production install from the lockfile plus the built output, as a non-root user.
# (test/docker-steps.test.ts performs these steps in a clean folder, since CI has no Docker.)
FROM node:22-bookworm-slim
# glibc's malloc otherwise keeps the memory of large freed blocks (decoded images, 13 MB inline
# inputs) in per-thread arenas: a burst of edits left the process at ~550 MB instead of ~350 MB
# (npm run bench, README "Benchmarks").
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=3000 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
COPY bin ./bin
COPY scripts ./scripts
# Compilers only for the native module when no prebuilt binary fits, then gone again.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force \
  && apt-get purge -y python3 make g++ && apt-get autoremove -y \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/nano-banana.js", "start"]
