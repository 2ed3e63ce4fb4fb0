#!/bin/sh
# Builds bench-worker:scratch (or $IMAGE): the built-in worker in an image FROM scratch, from a
# static bench binary. Nothing is pulled from a registry. scenarios/compose.yaml runs it.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$tmp/bench" ./cmd/bench
cp docker/Dockerfile "$tmp/"
docker build --quiet --tag "${IMAGE:-bench-worker:scratch}" "$tmp"
