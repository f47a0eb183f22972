#!/usr/bin/env bash
# Builds the sandbox images autograder/sandbox-<language>:bookworm on a machine without a
# container registry: debootstrap Debian bookworm into a root filesystem, `docker import` it.
# The package lists come from the Dockerfile.<language> next to this script, so both ways
# of building install the same toolchains. Safe to run repeatedly: an image whose labels
# already match the current package lists is left alone.
#
# Design, measured on the CI shape (2 cores, deb.debian.org, debootstrap 1.0.128):
# - ONE debootstrap of the union of all package lists, imported once as
#   autograder/sandbox-all:bookworm; each language image is that image with its own labels
#   (docker commit of a never-started container: an empty layer, nothing copied).
#   Whole script on a clean engine: 77 s with an empty .deb cache (debootstrap 68 s, import
#   4 s), 74-85 s with a warm one (the downloads are only ~241 MB; dpkg is the cost);
#   nothing to do: 0.2-0.4 s. One image of 740 MB on disk, shared by all five tags.
# - Rejected: one debootstrap per language, five in parallel: 128 s with a warm cache (five
#   base systems installed on two cores) and five imports (1.9 GB) instead of one.
# The price: these images are a superset of the Dockerfile-built ones (the python image also
# has gcc, javac and node). Code that already runs as uid 10001 without network or
# capabilities gains nothing from a compiler; grading results do not depend on it.
#
# Labels: org.autograder.sandbox.language=<language>; org.autograder.sandbox.version = first
# 12 hex digits of sha256 over the sorted package names, one per line (as in the
# Dockerfiles); org.autograder.sandbox.base = the same hash over the union (script only).
set -euo pipefail
cd "$(dirname "$0")"

LANGUAGES=(python java c cpp node)
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${AUTOGRADER_DEBOOTSTRAP_CACHE:-/var/cache/autograder-debootstrap}
LOCK_FILE=/var/lock/autograder-sandbox-images.lock
ALL_IMAGE=autograder/sandbox-all:$SUITE
L=org.autograder.sandbox

say() { echo "build-images: $*"; }
die() { say "$*" >&2; exit 1; }
image() { echo "autograder/sandbox-$1:$SUITE"; }
version_of() { printf '%s\n' "$@" | LC_ALL=C sort -u | sha256sum | cut -c1-12; }
label() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect --format '{{ .Id }}' "$1" 2>/dev/null || true; }
packages_of() { sed -n 's/^ARG PACKAGES="\(.*\)"$/\1/p' "Dockerfile.$1"; }
declared_version_of() { sed -n "s/.*$L\.version=\"\([0-9a-f]*\)\".*/\1/p" "Dockerfile.$1"; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and docker)"
for tool in docker debootstrap flock; do
    command -v "$tool" >/dev/null || die "$tool is missing; deploy/dev/ensure-docker.sh installs it"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers; deploy/dev/ensure-docker.sh starts one"

# Two engineers (or make -j) building at once would debootstrap twice and race on the tags.
exec 9>"$LOCK_FILE"
flock -n 9 || { say "waiting for another build (lock $LOCK_FILE)"; flock 9; }

declare -A PACKAGES VERSION
union=()
for lang in "${LANGUAGES[@]}"; do
    PACKAGES[$lang]=$(packages_of "$lang")
    [ -n "${PACKAGES[$lang]}" ] || die "Dockerfile.$lang has no ARG PACKAGES=\"...\" line"
    # shellcheck disable=SC2086  # word splitting of the package list is the point
    VERSION[$lang]=$(version_of ${PACKAGES[$lang]})
    [ "$(declared_version_of "$lang")" = "${VERSION[$lang]}" ] \
        || die "Dockerfile.$lang: set LABEL $L.version=\"${VERSION[$lang]}\" (hash of PACKAGES)"
    read -r -a words <<<"${PACKAGES[$lang]}"
    union+=("${words[@]}")
done
BASE_VERSION=$(version_of "${union[@]}")
mapfile -t union < <(printf '%s\n' "${union[@]}" | LC_ALL=C sort -u)

stale=()
for lang in "${LANGUAGES[@]}"; do
    if [ "$(label "$(image "$lang")" "$L.version")" != "${VERSION[$lang]}" ] \
        || [ "$(label "$(image "$lang")" "$L.base")" != "$BASE_VERSION" ]; then
        stale+=("$lang")
    fi
done
if [ ${#stale[@]} -eq 0 ]; then
    say "all images are current (base $BASE_VERSION)"
    exit 0
fi

WORK=""
cleanup() {
    [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
    # debootstrap mounts /proc and /sys inside the target; never delete through a mount.
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# Docs, manuals and translations go, as in debian:bookworm-slim; apt lists and .debs go too.
slim_rootfs() {
    local root=$1
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,info,groff,lintian,linda,locale}/*
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    find "$root/var/log" -type f -delete
    # The JDK's postinst leaves /tmp/hsperfdata_root behind.
    find "$root/tmp" "$root/var/tmp" -mindepth 1 -delete
    # debootstrap copies the host's; Docker mounts its own over them at run time.
    : >"$root/etc/resolv.conf"
    echo sandbox >"$root/etc/hostname"
}

add_student() {
    local root=$1
    chroot "$root" groupadd --gid 10001 student
    chroot "$root" useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
        --home-dir /workspace --shell /bin/sh student
    mkdir -p "$root/workspace"
    chown 10001:10001 "$root/workspace"
}

# Keeps the cache from growing with every point release: drop .debs this build did not use.
prune_cache() {
    local root=$1 deb
    for deb in "$CACHE_DIR"/*.deb; do
        [ -e "$root/var/cache/apt/archives/${deb##*/}" ] || rm -f "$deb"
    done
}

build_base() {
    local root=$WORK/root started=$SECONDS
    mkdir -p "$CACHE_DIR"
    say "debootstrap $SUITE with: ${union[*]} (log $WORK/debootstrap.log)"
    if ! debootstrap --variant=minbase --cache-dir="$CACHE_DIR" \
        --include="$(IFS=,; echo "${union[*]}")" "$SUITE" "$root" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
        tail -n 30 "$WORK/debootstrap.log" >&2
        die "debootstrap failed"
    fi
    say "debootstrap took $((SECONDS - started)) s"
    prune_cache "$root"
    add_student "$root"
    slim_rootfs "$root"
    started=$SECONDS
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -C "$root" -c . \
        | docker import \
            -c 'USER 10001:10001' \
            -c 'WORKDIR /workspace' \
            -c 'ENV LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin' \
            -c 'CMD ["bash"]' \
            -c "LABEL $L.language=all $L.version=$BASE_VERSION $L.base=$BASE_VERSION" \
            -m "debootstrap --variant=minbase $SUITE: ${union[*]}" \
            - "$ALL_IMAGE" >/dev/null
    say "imported $ALL_IMAGE in $((SECONDS - started)) s"
}

# The language image is the base image plus labels; the empty layer shares the base's data.
derive() {
    local lang=$1 old cid
    old=$(image_id "$(image "$lang")")
    cid=$(docker create "$ALL_IMAGE")
    docker commit -m "labels for $lang" \
        -c "LABEL $L.language=$lang $L.version=${VERSION[$lang]} $L.base=$BASE_VERSION" \
        "$cid" "$(image "$lang")" >/dev/null
    docker rm "$cid" >/dev/null
    # The image this tag replaced, unless a container or another tag still uses it.
    if [ -n "$old" ] && [ "$old" != "$(image_id "$(image "$lang")")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
    say "$(image "$lang") ready (version ${VERSION[$lang]})"
}

started=$SECONDS
if [ "$(label "$ALL_IMAGE" "$L.version")" != "$BASE_VERSION" ]; then
    old_base=$(image_id "$ALL_IMAGE")
    WORK=$(mktemp -d /var/tmp/autograder-sandbox-rootfs.XXXXXX)
    build_base
    stale=("${LANGUAGES[@]}")
fi
for lang in "${stale[@]}"; do
    derive "$lang"
done
if [ -n "${old_base:-}" ]; then
    docker rmi "$old_base" >/dev/null 2>&1 || true
fi
say "done in $((SECONDS - started)) s"
