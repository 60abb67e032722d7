#!/usr/bin/env bash
# Make a Docker engine answer and make sure the local base image exists.
#
# Idempotent; run as root on Debian bookworm. Nothing can be pulled from a registry, so the
# base image is debootstrapped from the Debian mirror apt already uses and `docker import`ed.
# The image carries the sha256 of its recipe in a label: a second run with the same recipe
# skips debootstrap entirely, and the slimmed rootfs tarball is cached by the same hash.
#
# Environment knobs (all optional):
#   CARPENTER_BASE_IMAGE   tag to create            (default carpenter/bookworm-python:local)
#   CARPENTER_CACHE_DIR    rootfs tarball cache      (default /var/cache/carpenter)
#   CARPENTER_DOCKERD_LOG  dockerd log when started  (default /var/log/carpenter-dockerd.log)
#   CARPENTER_ENGINE_WAIT  seconds to wait for dockerd (default 60)
set -euo pipefail

BASE_IMAGE="${CARPENTER_BASE_IMAGE:-carpenter/bookworm-python:local}"
CACHE_DIR="${CARPENTER_CACHE_DIR:-/var/cache/carpenter}"
DOCKERD_LOG="${CARPENTER_DOCKERD_LOG:-/var/log/carpenter-dockerd.log}"
ENGINE_WAIT="${CARPENTER_ENGINE_WAIT:-60}"
LABEL_KEY="org.carpenter.recipe"

# Remove a half-built tree or tarball whatever happens; a tarball is only renamed into place
# once complete, so an interrupted run never leaves a cache entry that looks valid.
workdir=""
partial=""
cleanup() { [[ -n "$workdir" ]] && rm -rf "$workdir"; [[ -n "$partial" ]] && rm -f "$partial"; true; }
trap cleanup EXIT

log() { printf 'engine.sh: %s\n' "$*" >&2; }

# The 20.10 CLI from docker.io; a newer CLI earlier on PATH may lack buildx, so prefer this one.
docker_cli() {
    if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker || true; fi
}

engine_answers() {
    local cli
    cli="$(docker_cli)"
    [[ -n "$cli" ]] && timeout 10 "$cli" info >/dev/null 2>&1
}

apt_updated=0
apt_install() {
    if [[ $apt_updated == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_engine() {
    if engine_answers; then
        log "engine answers ($("$(docker_cli)" version --format '{{.Server.Version}}' 2>/dev/null))"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        log "no dockerd: installing docker.io"
        apt_install docker.io
    fi
    if ! engine_answers; then
        log "starting dockerd (log: $DOCKERD_LOG)"
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        # setsid: dockerd must outlive this script and the test run that called it.
        # 9>&-: dockerd must not inherit the lock, or every later engine.sh waits forever.
        setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
        local waited=0
        until engine_answers; do
            if (( waited >= ENGINE_WAIT )); then
                log "dockerd did not answer within ${ENGINE_WAIT}s; last log lines:"
                tail -n 20 "$DOCKERD_LOG" >&2 || true
                exit 2
            fi
            sleep 1
            waited=$((waited + 1))
        done
        log "dockerd answers after ${waited}s"
    fi
}

# First Debian (non-security) mirror from apt's own configuration; falls back to deb.debian.org.
debian_mirror() {
    local uri
    uri="$(
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
            2>/dev/null \
        | grep -v '^[[:space:]]*#' \
        | grep -oE '(https?|file)://[^ ]+/debian/?' \
        | grep -v security | head -n 1 || true
    )"
    echo "${uri:-http://deb.debian.org/debian}"
}

# Everything that decides the image's contents; its sha256 is the cache key.
# The mirror is left out on purpose: it says where packages come from, not which ones.
RECIPE="$(cat <<'EOF'
recipe-version: 1
suite: bookworm
variant: minbase
include: python3,python3-venv,python3-pip,python-is-python3,ca-certificates
slim: /var/cache/apt/archives/*.deb /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/info/*
env: LANG=C.UTF-8
env: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cmd: ["python3"]
EOF
)"
RECIPE_HASH="$(printf '%s' "$RECIPE" | sha256sum | cut -d' ' -f1)"

image_has_recipe() {
    local have
    have="$("$(docker_cli)" image inspect --format "{{index .Config.Labels \"$LABEL_KEY\"}}" \
        "$BASE_IMAGE" 2>/dev/null || true)"
    [[ "$have" == "$RECIPE_HASH" ]]
}

build_rootfs_tarball() {
    local tarball="$1" mirror
    command -v debootstrap >/dev/null 2>&1 || { log "installing debootstrap"; apt_install debootstrap; }
    mirror="$(debian_mirror)"
    workdir="$(mktemp -d /var/tmp/carpenter-rootfs.XXXXXX)"
    partial="$tarball.tmp"
    log "debootstrap bookworm from $mirror (about 2-3 minutes)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        bookworm "$workdir/root" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
        log "debootstrap failed; last lines:"; tail -n 30 "$workdir/debootstrap.log" >&2; exit 2;
    }
    rm -rf "$workdir"/root/var/cache/apt/archives/*.deb "$workdir"/root/var/lib/apt/lists/* \
        "$workdir"/root/usr/share/doc/* "$workdir"/root/usr/share/man/* \
        "$workdir"/root/usr/share/info/*
    mkdir -p "$(dirname "$tarball")"
    tar --numeric-owner -C "$workdir/root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$workdir"
}

ensure_base_image() {
    if image_has_recipe; then
        log "$BASE_IMAGE is up to date (recipe ${RECIPE_HASH:0:12})"
        return
    fi
    local tarball="$CACHE_DIR/bookworm-python-$RECIPE_HASH.tar"
    if [[ -s "$tarball" ]]; then
        log "reusing cached rootfs $tarball"
    else
        build_rootfs_tarball "$tarball"
    fi
    log "importing $BASE_IMAGE"
    "$(docker_cli)" import \
        --change "LABEL $LABEL_KEY=$RECIPE_HASH" \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        "$tarball" "$BASE_IMAGE" >/dev/null
    image_has_recipe || { log "import did not produce the expected label"; exit 2; }
    log "$BASE_IMAGE ready (recipe ${RECIPE_HASH:0:12})"
}

# The look-up tests start real servers on loopback: Debian's reference registry (package
# docker-registry, distribution 2.8) and git daemon.
ensure_test_servers() {
    local missing=()
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v git >/dev/null 2>&1 || missing+=(git)
    if (( ${#missing[@]} )); then
        log "installing ${missing[*]} for the look-up tests"
        apt_install "${missing[@]}"
    fi
    # The package enables a system service on port 5000; the tests start their own servers.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
}

# The batch report is checked in a real headless browser (tests/batch/test_report_browser.py).
ensure_browser() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return
    fi
    log "installing chromium and chromium-driver (batch report test)"
    apt_install chromium chromium-driver
}

main() {
    if [[ $EUID -ne 0 ]]; then
        log "must run as root (installs packages, starts dockerd, runs debootstrap)"
        exit 2
    fi
    mkdir -p "$CACHE_DIR"
    # Several test runs may call this at once; one of them builds, the others wait and reuse.
    exec 9>"$CACHE_DIR/.engine.lock"
    flock 9
    ensure_engine
    ensure_base_image
    ensure_test_servers
    ensure_browser
}

main "$@"
