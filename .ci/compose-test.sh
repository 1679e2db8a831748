#!/usr/bin/env bash
# npm run test:compose — the docker compose deployment on a real Docker engine, from a clean machine:
#   1. a Docker engine: the running one, or dockerd from Debian's docker.io started with its data in a
#      temporary directory (installed when missing, with docker-compose);
#   2. a base image that needs no registry of images: Debian from debootstrap plus this machine's Node.js and
#      CA bundle, imported with `docker import` (cached as a tarball between runs);
#   3. Baton's image built once from the Dockerfile on that base, and the flow of test/compose/compose-flow.ts:
#      `up --scale worker=3` with the demo model, two children, the worker running one of them killed, both
#      results posted once, `down` and `up` again keeping the data.
# Exit 0 passed, 1 failed, 3 no Docker engine can run here (the caller decides whether that is a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
work=$(mktemp -d /tmp/baton-compose-XXXXXX)
cache=${BATON_COMPOSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baton-compose-test}
mkdir -p "$cache"
started_engine=""
log() { printf 'compose-test: %s\n' "$*" >&2; }

cleanup() {
  if [ -n "${compose_project:-}" ]; then
    (cd "$work/project" && docker-compose -p "$compose_project" down -v --remove-orphans >/dev/null 2>&1) || true
  fi
  if [ -n "$started_engine" ] && [ -f "$work/engine/pid" ]; then
    kill "$(cat "$work/engine/pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$work/engine/pid" ] && sleep 0.2 || break; done
  fi
  # The engine's data holds root-owned overlay mounts; unmount before removing.
  grep -o "$work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

install_packages() {
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. The engine.
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]} > 0)); then install_packages "${need[@]}" || { log "cannot install ${need[*]}"; exit 3; }; fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$work/engine"
  export DOCKER_HOST="unix://$work/engine/docker.sock"
  # No iptables and no default bridge: what works in these sandboxes; compose's own networks still work.
  dockerd --data-root "$work/engine/data" --exec-root "$work/engine/exec" --pidfile "$work/engine/pid" \
    --host "$DOCKER_HOST" --iptables=false --bridge=none >"$work/engine/dockerd.log" 2>&1 &
  started_engine=yes
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  if ! docker info >/dev/null 2>&1; then
    log "no Docker engine could be started here:"; tail -20 "$work/engine/dockerd.log" >&2; exit 3
  fi
  log "started dockerd (data in $work/engine)"
fi

# 2. The base image.
base_image=${BATON_BASE_IMAGE:-}
if [ -z "$base_image" ]; then
  base_image=baton-compose-base:test
  rootfs="$cache/base-rootfs.tar"
  if [ ! -f "$rootfs" ]; then
    log "building a Debian root file system with debootstrap (a few minutes, once)"
    root="$work/rootfs"
    debootstrap --variant=minbase --include=ca-certificates,git,bubblewrap,redis-server,redis-tools \
      bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
      || { log "debootstrap failed (no Debian mirror reachable?):"; tail -20 "$work/debootstrap.log" >&2; exit 3; }
    node_bin=$(command -v node)
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
    cp "$node_bin" "$root/usr/local/bin/node"
    mkdir -p "$root/usr/local/lib/node_modules"
    cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    # This machine's trust store: the same registries must be reachable from inside the build.
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$rootfs.partial" . && mv "$rootfs.partial" "$rootfs"
    rm -rf "$root"
  fi
  docker import --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$rootfs" "$base_image" >/dev/null
  log "imported $base_image"
fi

# What this test needs of the machine, checked before anything of Baton's is judged: a container runs, and
# reaches the npm registry the image build installs from. Without them the test cannot run here (exit 3).
if ! docker run --rm --network host "$base_image" true >/dev/null 2>"$work/run-check.log"; then
  log "a container cannot run on this engine:"; tail -5 "$work/run-check.log" >&2; exit 3
fi
if ! docker run --rm --network host "$base_image" npm ping >/dev/null 2>"$work/registry-check.log"; then
  log "the npm registry cannot be reached from a container:"; tail -5 "$work/registry-check.log" >&2; exit 3
fi

# 3. Baton's image, then the flow.
log "building baton-compose:test"
docker build --network host --build-arg "BASE_IMAGE=$base_image" -t baton-compose:test "$checkout" \
  >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }

mkdir -p "$work/project"
cp -r "$checkout/docker-compose.yml" "$checkout/config" "$work/project/"
compose_project="batonci$$"
export COMPOSE_PROJECT="$compose_project" COMPOSE_DIR="$work/project" BATON_IMAGE=baton-compose:test
# The base has redis-server and redis-cli, so it serves as the Redis image too.
export BATON_REDIS_IMAGE=${BATON_REDIS_IMAGE:-$base_image}
node --import tsx "$checkout/test/compose/compose-flow.ts"
