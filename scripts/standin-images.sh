#!/usr/bin/env bash
# Builds stand-ins for the public base images FROM local/debian:bookworm, for hosts where no image registry
# answers (python:*, redis:*, mysql:* cannot be pulled). They exist to prove the compose stack there (make
# compose-check); real deployments keep docker-compose.yml's defaults. See docker/standin/Dockerfile.
#
#   scripts/standin-images.sh            build all three (in parallel), print the variables that select them
#   scripts/standin-images.sh redis mysql   only these (python, redis, mysql)
#   scripts/standin-images.sh --env      print only the variables (DHAN_PYTHON_IMAGE=... lines, for an .env)
#
# BASE_IMAGE (default local/debian:bookworm) is the Debian 12 image they start from.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE_IMAGE:-local/debian:bookworm}
declare -A tags=(
    [python]=dhan-standin/python:3.11-bookworm
    [redis]=dhan-standin/redis:7.0-bookworm
    [mysql]=dhan-standin/mariadb:10.11-bookworm
)
env_lines() {
    echo "DHAN_PYTHON_IMAGE=${tags[python]}"
    echo "DHAN_REDIS_IMAGE=${tags[redis]}"
    echo "DHAN_MYSQL_IMAGE=${tags[mysql]}"
}
if [ "${1:-}" = --env ]; then
    env_lines
    exit 0
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "standin-images: base image $base is missing (build it, or set BASE_IMAGE to a Debian 12 image)" >&2
    exit 1
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(python redis mysql)
for target in "${targets[@]}"; do
    [ -n "${tags[$target]:-}" ] || { echo "standin-images: unknown stand-in '$target' (python, redis, mysql)" >&2; exit 2; }
done
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A pids=()
for target in "${targets[@]}"; do
    DOCKER_BUILDKIT=1 docker build --quiet --build-arg BASE_IMAGE="$base" --target "$target" \
        -t "${tags[$target]}" docker/standin > "$logs/$target" 2>&1 &
    pids[$target]=$!
done
failed=0
for target in "${targets[@]}"; do
    if ! wait "${pids[$target]}"; then
        echo "standin-images: building the $target stand-in failed:" >&2
        tail -n 20 "$logs/$target" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
for target in "${targets[@]}"; do
    echo "standin-images: ${tags[$target]} ($(docker image inspect -f '{{.Size}}' "${tags[$target]}" \
        | awk '{printf "%.0f MB", $1 / 1e6}'))"
done
env_lines
