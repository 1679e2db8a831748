FROM node:20-bookworm-slim
WORKDIR /app
# Children's terminal commands run under bubblewrap, in git worktrees of the configured workspaces.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap git ca-certificates \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY adapters ./adapters
COPY config ./config
USER node
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["start"]
