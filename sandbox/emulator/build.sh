#!/usr/bin/env bash
# Build every emulator image for a registry prefix and print the references, one per line.
#   sandbox/emulator/build.sh [REGISTRY]      (or EMULATOR_REGISTRY; default speechops.local)
# BASE_IMAGE (default speechops/base:bookworm) must exist. One program image
# (EMULATOR_PROGRAM_IMAGE, default speechops/speech-emulator:bookworm, a local cache like the base image)
# holds the code; each Microsoft tag is a one-layer image on top of it that only sets
# EMULATOR_KIND/VERSION/LOCALE/VOICE/BROKEN and labels (EMULATOR_KIND=diagnostic: the diagnostics container,
# no port). Tags already built from the current program image are skipped, so a re-run takes seconds.
# Progress goes to stderr, references to stdout.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REGISTRY="${1:-${EMULATOR_REGISTRY:-speechops.local}}"
REGISTRY="${REGISTRY%/}"
BASE_IMAGE="${BASE_IMAGE:-speechops/base:bookworm}"
PROGRAM_IMAGE="${EMULATOR_PROGRAM_IMAGE:-speechops/speech-emulator:bookworm}"
JOBS="${EMULATOR_BUILD_JOBS:-6}"
LAYER_VERSION=2   # bump when the per-tag layer below changes
STUB_REPOSITORY="speechops/billing-stub"
STUB_TAGS="1.0.0 latest"
DIAGNOSTIC_REPOSITORY="azure-cognitive-services/diagnostic"   # Microsoft publishes only :latest

log() { printf '[emulator] %s\n' "$*" >&2; }
die() { printf '[emulator] ERROR: %s\n' "$*" >&2; exit 1; }

docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE not found (run sandbox/images.sh)"
log "building $PROGRAM_IMAGE from $BASE_IMAGE"
docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$PROGRAM_IMAGE" "$HERE" >/dev/null 2>"${TMPDIR:-/tmp}/emulator-build.$$" \
  || { cat "${TMPDIR:-/tmp}/emulator-build.$$" >&2; rm -f "${TMPDIR:-/tmp}/emulator-build.$$"; die "docker build failed"; }
rm -f "${TMPDIR:-/tmp}/emulator-build.$$"
PROGRAM_ID="$(docker image inspect -f '{{.Id}}' "$PROGRAM_IMAGE")"
STAMP="${PROGRAM_ID#sha256:}.$LAYER_VERSION"

# image matrix: repository tag kind version locale voice broken port ('-' = empty; port '-' = no EXPOSE)
MATRIX="$(python3 "$HERE/speech_emulator/catalog.py")"
MATRIX+=$'\n'"$(for t in $STUB_TAGS; do echo "$STUB_REPOSITORY $t billing-stub 1.0.0 - - False 5001"; done)"
MATRIX+=$'\n'"$DIAGNOSTIC_REPOSITORY latest diagnostic 1.0.0 - - False -"

up_to_date="$(docker image ls --filter "label=com.speechops.emulator.stamp=$STAMP" --format '{{.Repository}}:{{.Tag}}')"

build_one() {  # repository tag kind version locale voice broken port
  local ref="$REGISTRY/$1:$2" kind="$3" version="$4" locale="$5" voice="$6" broken="" port="$8"
  [ "$5" = "-" ] && locale=""
  [ "$6" = "-" ] && voice=""
  [ "$7" = "True" ] && broken="1"
  local entry='ENTRYPOINT ["python3", "-m", "speech_emulator"]'
  [ "$kind" = "billing-stub" ] && entry='ENTRYPOINT ["python3", "-m", "speech_emulator.billing_stub"]' && port="5001 5002"
  local expose="EXPOSE $port"
  [ "$port" = "-" ] && expose="# no port"   # the diagnostics container: a one-shot check, no service
  printf '%s\n' "FROM $PROGRAM_IMAGE" \
    "ENV EMULATOR_KIND=\"$kind\" EMULATOR_VERSION=\"$version\" EMULATOR_LOCALE=\"$locale\" EMULATOR_VOICE=\"$voice\" EMULATOR_BROKEN=\"$broken\"" \
    "LABEL com.speechops.emulator.stamp=\"$STAMP\" com.speechops.emulator.kind=\"$kind\" com.speechops.emulator.broken=\"${broken:-0}\" org.opencontainers.image.version=\"$version\" org.opencontainers.image.title=\"speechops speech emulator: $kind\"" \
    "$expose" "$entry" \
    | docker build -q -t "$ref" - >/dev/null 2>&1 || { log "FAILED: $ref"; return 1; }
}

pids=()
failed=0
count=0
while read -r repository tag kind version locale voice broken port; do
  ref="$REGISTRY/$repository:$tag"
  if ! grep -qxF "$ref" <<<"$up_to_date"; then
    build_one "$repository" "$tag" "$kind" "$version" "$locale" "$voice" "$broken" "$port" &
    pids+=("$!")
    count=$((count + 1))
    if [ "${#pids[@]}" -ge "$JOBS" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
  fi
done <<<"$MATRIX"
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || die "some images failed to build"
log "built $count image(s), $(( $(wc -l <<<"$MATRIX") - count )) already up to date"
# Superseded emulator images (untagged by this or an earlier run) only take space; images still in use stay.
for label in com.speechops.emulator.stamp com.speechops.emulator.program; do
  docker image ls -q --filter dangling=true --filter "label=$label" | xargs -r docker image rm >/dev/null 2>&1 || true
done

while read -r repository tag _; do echo "$REGISTRY/$repository:$tag"; done <<<"$MATRIX"
