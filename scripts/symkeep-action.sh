#!/usr/bin/env bash
# The steps of the symkeep GitHub Action (action.yml), as one script that also runs locally:
#   SYMKEEP_BINARIES="bin/svc bin/cli" SYMKEEP_TIER=prod bash scripts/symkeep-action.sh
# Inputs (environment): SYMKEEP_BINARIES (required; whitespace-separated paths or globs),
# SYMKEEP_POLICY, SYMKEEP_TIER, SYMKEEP_STORE, SYMKEEP_BASELINE, SYMKEEP_SARIF (default symkeep.sarif),
# SYMKEEP_SERVER + SYMKEEP_TOKEN (archive the binaries through `symkeep serve` first),
# SYMKEEP_SMOKE (a command line to smoke-test, e.g. "bin/svc -addr 127.0.0.1:0"), SYMKEEP_SMOKE_SECONDS,
# SYMKEEP (the command to run, default "symkeep").
# Order: archive (optional), check (always; SARIF written even when it fails), smoke (optional).
# Exit status: the first failing step's (check: 1 policy failure), after every step ran.
set -uo pipefail
sk=${SYMKEEP:-symkeep}
read -r -a SK <<<"$sk"
if [ -z "${SYMKEEP_BINARIES:-}" ]; then
  echo "symkeep-action: SYMKEEP_BINARIES (the binaries input) is empty" >&2
  exit 2
fi
read -r -d '' -a pats <<<"$SYMKEEP_BINARIES" || true
shopt -s nullglob
bins=()
for pat in "${pats[@]}"; do
  matched=()
  for f in $pat; do [ -e "$f" ] && matched+=("$f"); done
  if [ ${#matched[@]} -eq 0 ]; then
    echo "symkeep-action: no file matches $pat" >&2
    exit 3
  fi
  bins+=("${matched[@]}")
done
shopt -u nullglob
status=0
note() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"; fi; }

if [ -n "${SYMKEEP_SERVER:-}" ]; then
  echo "::group::symkeep archive --server $SYMKEEP_SERVER"
  "${SK[@]}" archive --server "$SYMKEEP_SERVER" "${bins[@]}" || status=$?
  echo "::endgroup::"
fi

args=(check --format sarif -o "${SYMKEEP_SARIF:-symkeep.sarif}")
[ -n "${SYMKEEP_POLICY:-}" ] && args+=(--policy "$SYMKEEP_POLICY")
[ -n "${SYMKEEP_TIER:-}" ] && args+=(--tier "$SYMKEEP_TIER")
[ -n "${SYMKEEP_STORE:-}" ] && args+=(--store "$SYMKEEP_STORE")
[ -n "${SYMKEEP_BASELINE:-}" ] && args+=(--baseline "$SYMKEEP_BASELINE")
echo "::group::symkeep ${args[*]} ${bins[*]}"
out=$("${SK[@]}" "${args[@]}" "${bins[@]}")
rc=$?
printf '%s\n' "$out"
echo "::endgroup::"
note "### symkeep check" '```' "$out" '```'
if [ $rc -ne 0 ] && [ $status -eq 0 ]; then status=$rc; fi

if [ -n "${SYMKEEP_SMOKE:-}" ]; then
  read -r -a smoke_cmd <<<"$SYMKEEP_SMOKE"
  echo "::group::symkeep smoke -- ${smoke_cmd[*]}"
  out=$("${SK[@]}" smoke --seconds "${SYMKEEP_SMOKE_SECONDS:-5}" -- "${smoke_cmd[@]}")
  rc=$?
  printf '%s\n' "$out"
  echo "::endgroup::"
  note "### symkeep smoke" '```' "$out" '```'
  if [ $rc -ne 0 ] && [ $status -eq 0 ]; then status=$rc; fi
fi
exit $status
