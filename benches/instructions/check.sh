#!/usr/bin/env bash
# Instruction-count regression check (issue 18): runs the valgrind benchmarks of benches/instructions.rs and
# compares each benchmark's instruction count (callgrind Ir) with its record in benches/instructions/baseline.json.
#   benches/instructions/check.sh            fails (exit 1) when a count grew by more than TOLERANCE percent (10)
#                                            over its record, or when a benchmark has no record or a record no
#                                            benchmark; says which and by how much
#   benches/instructions/check.sh --update   rewrites baseline.json from this run: a deliberate change, committed
#                                            and reviewed with the code that changed the counts
# Needs valgrind and gungraun-runner (the version of the gungraun crate), both installed by .ci/bootstrap.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASELINE=benches/instructions/baseline.json
TOLERANCE=${TOLERANCE:-10}
mode=check
case "${1:-}" in
"") ;;
--update) mode=update ;;
*)
    echo "usage: $0 [--update]" >&2
    exit 2
    ;;
esac
command -v valgrind >/dev/null || {
    echo "check.sh: valgrind missing (run .ci/bootstrap)" >&2
    exit 1
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo bench --bench instructions -- --output-format=json >"$out"
python3 - "$mode" "$out" "$BASELINE" "$TOLERANCE" <<'PYEOF'
import json, sys
mode, out, baseline_path, tolerance = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
counts = {}
for line in open(out):
    line = line.strip()
    if not line.startswith("{"):
        continue
    summary = json.loads(line)
    name = f"{summary['function_name']}.{summary['id']}"
    total = summary["profiles"][0]["summaries"]["total"] if "summaries" in summary["profiles"][0] \
        else summary["profiles"][0]["data"]["total"]
    counts[name] = int(total["metrics"]["Ir"]["values"]["new"])
if not counts:
    sys.exit("check.sh: no benchmark results")
if mode == "update":
    with open(baseline_path, "w") as f:
        json.dump(dict(sorted(counts.items())), f, indent=2)
        f.write("\n")
    for name, n in sorted(counts.items()):
        print(f"{name:40} {n:>12,}")
    print(f"recorded {len(counts)} instruction counts in {baseline_path}")
    sys.exit(0)
baseline = json.load(open(baseline_path))
failures = []
for name in sorted(set(counts) | set(baseline)):
    if name not in baseline:
        print(f"{name:40} {'(none)':>12} -> {counts[name]:>12,}  NEW")
        failures.append(f"{name}: no record in {baseline_path} (add it with --update)")
        continue
    if name not in counts:
        failures.append(f"{name}: recorded but not measured (benchmark removed? update the record)")
        continue
    old, new = baseline[name], counts[name]
    change = (new - old) * 100.0 / old
    flag = "REGRESSION" if change > tolerance else "ok"
    print(f"{name:40} {old:>12,} -> {new:>12,}  {change:+6.1f}%  {flag}")
    if change > tolerance:
        failures.append(f"{name}: {old:,} -> {new:,} instructions (+{change:.1f}%, over the {tolerance:g}% allowed)")
if failures:
    print("\ninstruction-count check failed:", file=sys.stderr)
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    print(f"if the growth is intended, record it: benches/instructions/check.sh --update", file=sys.stderr)
    sys.exit(1)
print(f"instruction counts within {tolerance:g}% of {baseline_path}")
PYEOF
