# The service image. Node 24 comes from the base image, so the `node` dev dependency is not needed.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY migrations ./migrations
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data
USER node
ENV BIND_ADDRESS=0.0.0.0 DATA_DIR=/data PORT=3000
EXPOSE 3000
CMD ["node", "src/main.ts"]
