#!/usr/bin/env bash
# Builds the benchmarks (Release, no sanitizers) and runs all three with the defaults recorded in
# docs/BENCHMARKS.md, printing each result table. Every bench is bounded in time and stops by itself
# (about 17 minutes in all on 2 cores, fleet ~6 of them); each starts and stops its own `ttigctl emulate tts` process
# on 127.0.0.1.
#
#   bash bench/run.sh                  # build + rest + cups + lns
#   bash bench/run.sh rest lns         # only some
#   SRC=/path/to/tree BUILD=/tmp/b JOBS=2 bash bench/run.sh
#   QUICK=1 bash bench/run.sh          # short smoke run (seconds, 1,000 sessions)
#
# Needs the top-level CMakeLists.txt to include bench/ behind TTIG_BENCH:
#   option(TTIG_BENCH "Build the benchmarks in bench/ (run by hand, see docs/BENCHMARKS.md)" OFF)
#   if(TTIG_BENCH AND TARGET ttig_emu)
#     add_subdirectory(bench)
#   endif()
set -euo pipefail

SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRC/build/bench}
JOBS=${JOBS:-2}
OUT=${OUT:-$BUILD/results}
which=("$@")
[ ${#which[@]} -eq 0 ] && which=(rest cups lns station doctor rotate fleet)

if ! grep -q 'add_subdirectory(bench)' "$SRC/CMakeLists.txt"; then
    echo "bench/run.sh: $SRC/CMakeLists.txt does not include bench/; add:" >&2
    sed -n 's/^#   //p' "$SRC/bench/CMakeLists.txt" | head -4 >&2
    exit 2
fi

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTTIG_BENCH=ON -DTTIG_TESTS=OFF -DTTIG_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target ttigctl rest_bench cups_bench lns_bench station_bench doctor_bench rotate_bench fleet_bench

mkdir -p "$OUT"
echo "== machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "== load before: $(uptime)"

if [ "${QUICK:-0}" = 1 ]; then
    rest_args=(--duration 2 --warmup 0.5 --startup-runs 3)
    cups_args=(--duration 1 --warmup 0.5)
    lns_args=(--sessions 1000 --hold 2 --settle 1)
    station_args=(--stations 200 --steady 2)
    fleet_args=(--gateways 200 --rate 50 --kills 5)
else
    rest_args=(--connections 64 --duration 10 --warmup 2 --rows 20000:nomemo:1,20000:memo:1,20000:memo:2 --startup-runs 10)
    cups_args=(--concurrency 16 --duration 5 --warmup 1)
    lns_args=(--sessions 1000,10000 --schemes ws,wss --hold 35)
    station_args=(--stations 10000 --steady 20 --uplink-interval 10)
    fleet_args=(--gateways 10000 --rate 500 --concurrency 16 --kills 20)
fi

for b in "${which[@]}"; do
    case "$b" in
        rest) echo; echo "== $BUILD/bench/rest_bench ${rest_args[*]}"
              "$BUILD/bench/rest_bench" "${rest_args[@]}" --json "$OUT/rest.json" ;;
        cups) echo; echo "== $BUILD/bench/cups_bench ${cups_args[*]}"
              "$BUILD/bench/cups_bench" "${cups_args[@]}" --json "$OUT/cups.json" ;;
        lns)  echo; echo "== $BUILD/bench/lns_bench ${lns_args[*]}"
              "$BUILD/bench/lns_bench" "${lns_args[@]}" --json "$OUT/lns.json" ;;
        station) echo; echo "== $BUILD/bench/station_bench ${station_args[*]}"
              "$BUILD/bench/station_bench" "${station_args[@]}" --json "$OUT/station.json" ;;
        doctor) echo; echo "== $BUILD/bench/doctor_bench"
              "$BUILD/bench/doctor_bench" ;;
        rotate) echo; echo "== $BUILD/bench/rotate_bench"
              "$BUILD/bench/rotate_bench" ;;
        fleet) echo; echo "== $BUILD/bench/fleet_bench ${fleet_args[*]}"
              "$BUILD/bench/fleet_bench" "${fleet_args[@]}" ;;
        *) echo "bench/run.sh: unknown bench '$b' (rest, cups, lns, station, doctor, rotate, fleet)" >&2; exit 2 ;;
    esac
done

echo
echo "== load after: $(uptime)"
echo "== JSON results in $OUT"
