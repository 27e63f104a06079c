# eas worker image with the GPU backend (tfjs-node-gpu 4.22 bundles libtensorflow 2.9.1: CUDA 11.2 and cuDNN 8.1).
# Build: docker build -t eas .        Run: see docker-compose.yml
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg build-essential python3 \
 && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# tfjs-node-gpu's install script downloads libtensorflow (GPU build); it must run here.
RUN npm ci --no-audit --no-fund --foreground-scripts \
 && node -e "require('@tensorflow/tfjs-node-gpu')" \
 && npm cache clean --force
COPY . .

ENV EAS_STORAGE_ROOT=/runs EAS_DATA_DIR=/data NODE_ENV=production
VOLUME ["/runs", "/data"]
ENTRYPOINT ["node", "bin/eas.js"]
CMD ["--help"]
