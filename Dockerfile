# One image for the gateway and every service (docker-compose.yml, fleet mode); the PACKAGE
# build arg (or a `pnpm --filter <package> start` command) picks which one runs.
FROM node:20-slim
WORKDIR /app
RUN npm install -g pnpm@10
COPY . .
# Not NODE_ENV=production: the services start through tsx, a workspace devDependency.
RUN pnpm install --frozen-lockfile
RUN node scripts/prisma-generate.cjs
# Declared after the shared layers, so building nine images reuses one install.
ARG PACKAGE=@platform/gateway
ENV PACKAGE=${PACKAGE} HOST=0.0.0.0
RUN mkdir -p /app/.data /app/.tmp && chown node:node /app/.data /app/.tmp
USER node
EXPOSE 8000 8101 8102 8103 8104 8105 8106 8107 8108
CMD ["sh", "-c", "exec pnpm --filter \"$PACKAGE\" start"]
