#!/usr/bin/env bash
# Measure the regression gate (docs/gate.md) on the local stack, with one build:
#   scripts/measure-gate.sh [SCENARIO]            (default scenarios/smoke.toml)
# 1. HISTORY runs of the scenario start the history (results in OUT/clean).
# 2. RUNS more runs, each checked against the runs before it (`harness check RUN
#    --baseline OUT/clean --history HISTORY`): a failing "vs baseline" check is a false
#    alarm (the scenario's own thresholds are not counted).
# 3. Interleaved with them, SLOW_RUNS runs with a slowdown injected inside the function
#    (`[local] added_latency`, SLOWDOWN_PCT percent of the history's median function
#    duration), each checked against the clean runs before it: a failing "vs baseline"
#    check is a detection.
# Prints a line per run, then both rates with the machine, the build and the date.
# Environment: RUNS (default 100), SLOW_RUNS (40), HISTORY (10), SLOWDOWN_PCT (20),
# HARNESS (the binary; default: target/debug/harness, built first), OUT (default: a
# new temporary folder, kept), RUN_ARGS (more flags for harness run, e.g.
# "--accounts 100000": smoke's 50 accounts make its latency mostly OCC retries, which a
# slower function staggers away), CHECK_ARGS (more flags for harness check, e.g.
# "--tolerance-pct 10"). Needs jq.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
scenario="$(realpath "${1:-$root/scenarios/smoke.toml}")"
runs="${RUNS:-100}" slow_runs="${SLOW_RUNS:-40}" history="${HISTORY:-10}" pct="${SLOWDOWN_PCT:-20}"
out="${OUT:-$(mktemp -d -t measure-gate.XXXXXX)}"
command -v jq >/dev/null || { echo "measure-gate: needs jq (apt-get install jq)" >&2; exit 2; }
if [ -z "${HARNESS:-}" ]; then
    (cd "$root" && cargo build -q -p harness)
    HARNESS="$root/target/debug/harness"
fi
mkdir -p "$out/clean" "$out/slow"
# Runs of an earlier measurement would enter this one's history and its median.
if [ -n "$(ls -A "$out/clean" "$out/slow")" ]; then
    echo "measure-gate: $out already holds runs; give OUT a new folder" >&2
    exit 2
fi
echo "measure-gate: scenario $scenario, results in $out" >&2

# Run the scenario into a results folder; print the new run's folder. A run that wrote
# no summary.json (it failed to start) is moved to OUT/failed with its log, and printed
# as nothing: it is neither a false alarm nor a detection.
run_into() { # SCENARIO DIR
    local dir before
    before="$(find "$2" -mindepth 1 -maxdepth 1 -type d | wc -l)"
    # shellcheck disable=SC2086
    "$HARNESS" run --results "$2" ${RUN_ARGS:-} "$1" >"$out/last-run.log" 2>&1 || true
    dir="$(find "$2" -mindepth 1 -maxdepth 1 -type d | sort | tail -1)"
    if [ "$(find "$2" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq "$before" ]; then
        echo "measure-gate: a run failed before its folder: $(tail -1 "$out/last-run.log")" >&2
    elif [ -f "$dir/summary.json" ]; then
        echo "$dir"
    else
        mkdir -p "$out/failed"
        mv "$dir" "$out/failed/" && cp "$out/last-run.log" "$out/failed/$(basename "$dir").log"
        echo "measure-gate: a run failed, kept in $out/failed: $(tail -1 "$out/last-run.log")" >&2
    fi
}

# Check a run against the clean history; print the failing "vs baseline" checks
# (nothing when none failed). Exit 2 (bad input) stops the measurement.
regressions() { # RUN
    local verdict status=0
    # shellcheck disable=SC2086
    verdict="$("$HARNESS" check "$1" --baseline "$out/clean" --history "$history" --format json ${CHECK_ARGS:-})" || status=$?
    [ "$status" -le 1 ] || { echo "measure-gate: harness check $1 failed (exit $status)" >&2; exit 2; }
    jq -r '[.checks[] | select((.name | test("vs baseline")) and (.passed | not)) | .name] | join(", ")' <<<"$verdict"
}

for i in $(seq 1 "$history"); do
    dir="$(run_into "$scenario" "$out/clean")"
    echo "history $i/$history: ${dir:+$(basename "$dir")}" >&2
done

# The slowdown: a share of the history's median function duration (stats.csv).
median_ms="$(for f in "$out"/clean/*/stats.csv; do
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "function_p50_ms") c = i } NR == 2 { print $c }' "$f"
done | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
added_ms="$(awk -v m="$median_ms" -v p="$pct" 'BEGIN { printf "%.1f", m * p / 100 }')"
slow="$out/slow.toml"
if grep -q '^\[local\]' "$scenario"; then
    sed "s/^\[local\]$/[local]\nadded_latency = \"${added_ms}ms\"/" "$scenario" >"$slow"
else
    { cat "$scenario"; printf '\n[local]\nadded_latency = "%sms"\n' "$added_ms"; } >"$slow"
fi
echo "slowdown: ${added_ms} ms inside the function (${pct}% of the median function duration, ${median_ms} ms)" >&2

# Clean and slowed runs interleaved, so that the machine's drift affects both alike.
alarms=0 detected=0 clean_failed=0 slow_failed=0
for i in $(seq 1 $((runs > slow_runs ? runs : slow_runs))); do
    if [ "$i" -le "$runs" ]; then
        dir="$(run_into "$scenario" "$out/clean")"
        if [ -z "$dir" ]; then
            clean_failed=$((clean_failed + 1))
        else
            failed="$(regressions "$dir")"
            [ -z "$failed" ] || alarms=$((alarms + 1))
            echo "clean $i/$runs $(basename "$dir"): ${failed:-pass}"
        fi
    fi
    if [ "$i" -le "$slow_runs" ]; then
        dir="$(run_into "$slow" "$out/slow")"
        if [ -z "$dir" ]; then
            slow_failed=$((slow_failed + 1))
        else
            failed="$(regressions "$dir")"
            [ -z "$failed" ] || detected=$((detected + 1))
            echo "slow $i/$slow_runs $(basename "$dir"): ${failed:-missed}"
        fi
    fi
done
failed_runs=$((clean_failed + slow_failed))

cpu="$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || uname -m)"
rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "Gate measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) x ${cpu}, $(basename "$HARNESS") at ${rev} (${HARNESS}), scenario $(basename "$scenario") ${RUN_ARGS:-}, --history ${history} ${CHECK_ARGS:-}"
awk -v a="$alarms" -v n="$((runs - clean_failed))" -v d="$detected" -v s="$((slow_runs - slow_failed))" -v ms="$added_ms" -v p="$pct" 'BEGIN {
    printf "false alarms: %d of %d clean runs (%.1f%%)\n", a, n, n ? 100 * a / n : 0
    printf "detections:   %d of %d runs slowed by %s ms (%s%% of the median function duration) (%.1f%%)\n", d, s, ms, p, s ? 100 * d / s : 0
}'
[ "$failed_runs" -eq 0 ] || echo "runs that failed to start (not counted): $failed_runs, in $out/failed"
