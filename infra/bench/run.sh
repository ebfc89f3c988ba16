#!/usr/bin/env bash
# Tierflow's benchmark suite: prints ONE table (webhook verify + parse vs stripe-python and
# stripe-node; cold start, CPU and RSS of every function vs Python and Node peers; AWS and Stripe
# calls per request; arm64 binary sizes; cost vs table size). Figures are printed, never asserted:
# the machine is shared and noisy. Not part of infra/test.sh.
#
#   infra/bench/run.sh                 build what is stale, run everything, print the table
#   infra/bench/run.sh --no-build      reuse the release binaries already in target/
#   infra/bench/run.sh --quick         fewer iterations and runs, tables of 10 and 10k items only
#   infra/bench/run.sh --clean-build   also time a clean workspace build (own CARGO_TARGET_DIR)
#   infra/bench/run.sh --table         print the last table again from infra/bench/results/
#   infra/bench/run.sh --stripe-delay-ms=N --aws-delay-ms=N
#                                      the latency model: each Stripe / AWS call of the journey
#                                      waits N ms, as a real round trip would (defaults 300 and 5:
#                                      see "Latency a user feels" in README.md)
#   infra/bench/run.sh --flow-only     only the journey (calls, round trips, modelled latency)
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/lib.sh
trap stop_all EXIT

BUILD=1 QUICK=0 CLEAN_BUILD=0 TABLE_ONLY=0 FLOW_ONLY=0
STRIPE_DELAY_MS=300 AWS_DELAY_MS=5
for arg in "$@"; do
  case "$arg" in
    --stripe-delay-ms=*) STRIPE_DELAY_MS=${arg#*=} ;;
    --aws-delay-ms=*) AWS_DELAY_MS=${arg#*=} ;;
    --flow-only) FLOW_ONLY=1 ;;
    --no-build) BUILD=0 ;;
    --quick) QUICK=1 ;;
    --clean-build) CLEAN_BUILD=1 ;;
    --table) TABLE_ONLY=1 ;;
    *) echo "unknown option $arg (see the top of $0)" >&2; exit 2 ;;
  esac
done

BENCH=infra/bench
OUT=$BENCH/results
if [ "$TABLE_ONLY" = 1 ]; then
  exec python3 "$BENCH/harness.py" table --out "$OUT"
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

ITERATIONS=20000 PY_ITERATIONS=5000 RUNS=5 SIZES=10,10000,100000
if [ "$QUICK" = 1 ]; then
  ITERATIONS=5000 PY_ITERATIONS=1000 RUNS=3 SIZES=10,10000
fi
FUNCTIONS=()
for dir in functions/*/; do FUNCTIONS+=("$(basename "$dir")"); done
PKG_ARGS=()
for f in "${FUNCTIONS[@]}"; do PKG_ARGS+=(-p "$f"); done

python3 - "$OUT/meta.json" <<'PY'
import json, os, platform, subprocess, sys, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": f"{cpu}, {os.cpu_count()} cores, {mem // 1024 // 1024} GB, Linux {platform.release()}, {rustc}, "
                      f"Python {platform.python_version()}, Node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}"},
          open(sys.argv[1], "w"))
PY

log "peers: stripe-python from PyPI, stripe-node and the AWS SDK from npm (into $BENCH/node_modules)"
# The releases infra/requirements.txt pins: the Python peer's import cost moved threefold
# between stripe-python releases, so an unpinned peer would move the ratio, not Tierflow.
peer_pins=$(grep -E '^(stripe|boto3)==' "$TIERFLOW_ROOT/infra/requirements.txt" | tr '\n' ' ')
# shellcheck disable=SC2086 # one word per pin
python3 -m pip install --quiet --disable-pip-version-check $peer_pins
if [ "$FLOW_ONLY" = 0 ]; then
  if [ ! -d "$BENCH/node_modules/stripe" ] || [ ! -d "$BENCH/node_modules/@aws-sdk/client-dynamodb" ]; then
    (cd "$BENCH" && npm install --no-audit --no-fund --loglevel=error)
  fi
fi

if [ "$BUILD" = 1 ]; then
  log "building the functions (release, x86_64: these run here) and the tools the suite needs"
  cargo build --release "${PKG_ARGS[@]}" -p tierflow-bench
  cargo build -p stripe-emulator -p tierflow-tools
  log "building the functions for Lambda (cargo lambda build --release --arm64)"
  cargo lambda build --release --arm64 "${PKG_ARGS[@]}"
fi


if [ "$FLOW_ONLY" = 0 ]; then
log "1. webhook verify + parse: Tierflow, the floor, stripe-node, stripe-python"
python3 "$BENCH/peers/payload.py" "$OUT/payload.json"
target/release/verify-bench "$OUT/payload.json" "$ITERATIONS" >"$OUT/verify-rust.json"
python3 "$BENCH/peers/verify_stripe_python.py" "$OUT/payload.json" "$PY_ITERATIONS" >"$OUT/verify-python.json"
NODE_PATH="$BENCH/node_modules" node "$BENCH/peers/verify_stripe_node.js" "$OUT/payload.json" "$ITERATIONS" >"$OUT/verify-node.json"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
json.dump({k: json.load(open(f"{out}/verify-{k}.json")) for k in ("rust", "python", "node")},
          open(f"{out}/verify.json", "w"))
PY
fi

STACK="bench-$$"
start_aws_emulator "$(free_port)" "$STACK"
export STRIPE_SECRET_KEY=sk_test_benchmark
start_stripe_emulator "$(free_port)"
log "creating the catalog's prices in the Stripe emulator"
target/debug/catalog-sync >"$OUT/catalog-sync.log"

log "2-3. every function, cold, along a user's journey (calls counted at the emulators)"
python3 "$BENCH/harness.py" flow --out "$OUT" --fallback-bin-dir target/debug \
  --stripe-delay-ms "$STRIPE_DELAY_MS" --aws-delay-ms "$AWS_DELAY_MS"
if [ "$FLOW_ONLY" = 1 ]; then
  echo
  python3 "$BENCH/harness.py" table --out "$OUT"
  exit 0
fi
log "2. cold start of the same webhook: Tierflow vs Python and Node peers ($RUNS runs each)"
python3 "$BENCH/harness.py" peers --out "$OUT" --runs "$RUNS"
log "2. where init goes: one layer per binary"
python3 "$BENCH/harness.py" init --out "$OUT" --runs "$RUNS"
log "5. scale: tables of $SIZES items"
python3 "$BENCH/harness.py" scale --out "$OUT" --sizes "$SIZES"

if [ "$CLEAN_BUILD" = 1 ]; then
  CLEAN_DIR=$(mktemp -d)
  log "4. clean build of the workspace into $CLEAN_DIR (cargo build --workspace --locked)"
  start=$SECONDS
  CARGO_TARGET_DIR="$CLEAN_DIR" cargo build --workspace --locked
  python3 -c 'import json,sys; json.dump({"seconds": int(sys.argv[1]), "command": "cargo build --workspace --locked, dev profile, empty target dir"}, open(sys.argv[2], "w"))' \
    "$((SECONDS - start))" "$OUT/build.json"
  rm -rf "$CLEAN_DIR"
fi

log "binary sizes (target/lambda/*/bootstrap for arm64; target/release/* for x86_64)"
python3 - "$OUT/sizes.json" "${FUNCTIONS[@]}" <<'PY'
import json, os, sys
sizes = {"arm64": {}, "x86_64": {}}
for name in sys.argv[2:]:
    for arch, path in (("arm64", f"target/lambda/{name}/bootstrap"), ("x86_64", f"target/release/{name}")):
        if os.path.exists(path):
            sizes[arch][name] = os.path.getsize(path)
json.dump(sizes, open(sys.argv[1], "w"))
PY

echo
python3 "$BENCH/harness.py" table --out "$OUT"
