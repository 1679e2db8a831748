# One image for every Baton service (gateway, worker, start). It runs the compiled JavaScript of
# `npm run build`, as a non-root user, with git and bubblewrap for the workspace and terminal tools.
# BASE_IMAGE must be Debian-based with Node.js 20 and npm; a machine that cannot pull images can import
# one (see .ci/compose-test.sh, which builds it from Debian packages and the machine's Node.js).
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY adapters ./adapters
COPY config ./config
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE_IMAGE}
# Installed only when the base lacks them, so an offline base that already has them builds offline.
RUN if ! command -v git >/dev/null || ! command -v bwrap >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends git bubblewrap ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin baton
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./
# Where `baton start` keeps its private Redis data and the workspaces keep their checkouts.
RUN mkdir -p /app/.baton && chown baton:baton /app/.baton
USER baton
ENTRYPOINT ["node", "src/cli/main.js"]
CMD ["start"]
