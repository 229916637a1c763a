#!/usr/bin/env bash
# Builds the MySQL-compatible image that the testcontainers path runs on a machine without an
# image registry: a minimal Debian root (debootstrap --variant=minbase) from the mirror that
# apt already uses on this machine, with mariadb-server and entrypoint.sh, imported into Docker.
# The tag is a hash of this folder's files, so the image is rebuilt only when the recipe
# changes. Prints the image's name:tag on stdout.
#
# Needs root, debootstrap, and a running Docker engine (the docker CLI, DOCKER_HOST if not the
# default socket).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=lambda-rds-ingest-mariadb
image=$name:$(cat "$here"/build.sh "$here"/entrypoint.sh | sha256sum | cut -c1-12)
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

# The host's own release, from the mirror its apt configuration names.
# shellcheck disable=SC1091
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
mirror=$(apt-get indextargets --format '$(TARGET_OF) $(CODENAME) $(REPO_URI)' |
    awk -v suite="$suite" '$1 == "deb" && $2 == suite { print $3; exit }')
if [ -z "$mirror" ]; then
    echo "build.sh: apt's configuration names no mirror for Debian $suite" >&2
    exit 1
fi

rootfs=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$rootfs" "$log"' EXIT
echo "building $image: debootstrap $suite from $mirror" >&2
if ! debootstrap --variant=minbase --include=mariadb-server "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
    tail -20 "$log" >&2
    echo "build.sh: debootstrap failed (above)" >&2
    exit 1
fi
# Debian's postinst initialised a data directory for a host; the entrypoint makes the
# container's own from its environment. Downloaded packages and docs only cost size.
rm -rf "$rootfs"/var/lib/mysql/* "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc "$rootfs"/usr/share/man
install -m 0755 "$here/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'EXPOSE 3306' \
    --message "debootstrap --variant=minbase $suite + mariadb-server, tests/mariadb-image" \
    - "$image" >/dev/null
# Earlier recipes' images are not used again.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$name" | grep -vxF "$image" |
    xargs -r docker image rm >/dev/null 2>&1 || true
echo "$image"
