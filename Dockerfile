# syntax=docker/dockerfile:1
#
# Targets:
#   migrate   one-shot job: `npm run db:deploy` (prisma migrate deploy), then exits
#   runtime   the service: `node dist/server.js` (the default, last stage)
# Both need DATABASE_URL. Node 24 (the current LTS) runs the image; the tests run on Node 20.19+, the oldest the
# service supports (package.json engines).

FROM node:24-bookworm-slim AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# Compile: all dependencies, `prisma generate` (offline thanks to the placeholder URL in prisma.config.ts) and tsc.
FROM base AS build
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY src ./src
RUN npm run build

# Production dependencies only. The Prisma CLI is one of them: the server runs `prisma migrate deploy` on start.
# Optional ones are left out too: the image always has a DATABASE_URL, so the embedded PostgreSQL's platform binary
# (an optional dependency) would never run.
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional && npm cache clean --force

# What `prisma migrate deploy` reads: prisma.config.ts, prisma/ and node_modules.
FROM base AS migrate
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
USER node
CMD ["npm", "run", "db:deploy"]

# prisma/ ships too: the readiness probe compares its migrations with the ones applied. ffmpeg is Debian's, newer than
# the static build npm installs (an optional dependency, left out above).
FROM base AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
ENV HOST=0.0.0.0 PORT=3000 NODE_ENV=production FFMPEG_PATH=/usr/bin/ffmpeg
COPY --from=deps /app/node_modules ./node_modules
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 (no npm, no shell), so SIGTERM reaches the server's graceful shutdown.
CMD ["node", "dist/server.js"]
