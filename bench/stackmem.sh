#!/bin/bash
# stackmem.sh: goroutine stacks and heap of 1,000 IVR calls (or, with
# MODE=bridged, 1,000 bridged calls), read from hotline's metrics before
# and after a forced GC (/debug/pprof/heap?gc=1), then loadgen's own report
# (RSS per call, CPU per call-second).
#
# usage: [MODE=ivr|bridged] bench/stackmem.sh HOTLINE_BIN [LOADGEN_BIN]
# (build them with: go build -o /tmp/hotline-main-bin ./cmd/hotline &&
#  go build -o /tmp/loadgen ./bench/loadgen)
set -euo pipefail
hotline=${1:?usage: stackmem.sh HOTLINE_BIN [LOADGEN_BIN]}
loadgen=${2:-/tmp/loadgen}
wd=$(mktemp -d)
printf 'http:\n  pprof: true\n' > "$wd/extra.yaml"
mode=${MODE:-ivr}
case $mode in
ivr) cps=200 settle=22 ;;     # a 5 s ramp, then settling
bridged) cps=100 settle=30 ;; # agents register, a 10 s ramp, then settling
*) echo "stackmem: MODE is ivr or bridged, not $mode" >&2; exit 2 ;;
esac
"$loadgen" -hotline "$hotline" -mode "$mode" -calls 1000 -cps "$cps" -hold 40s \
  -workdir "$wd/run" -extra-yaml "$wd/extra.yaml" -quiet > "$wd/report.txt" 2>&1 &
lg=$!
trap 'kill "$lg" 2>/dev/null || true' EXIT
http=
for _ in $(seq 100); do
  cfg=$(ls "$wd"/run/*.yaml 2>/dev/null | head -1 || true)
  if [ -n "$cfg" ]; then
    http=$(grep -A3 '^http:' "$cfg" | grep listen | sed 's/.*listen: *//; s/"//g')
    curl -sf "http://$http/metrics" > /dev/null && break
  fi
  sleep 0.1
done
[ -n "$http" ] || { echo "stackmem: hotline's metrics never answered" >&2; exit 1; }
metrics() {
  curl -s "http://$http/metrics" |
    grep -E '^go_(goroutines|memstats_(stack_inuse|heap_inuse|heap_alloc)_bytes)|^process_resident' | tr '\n' ' '
  echo
}
sleep "$settle"
echo "before GC: $(metrics)"
curl -s "http://$http/debug/pprof/heap?gc=1" > /dev/null
sleep 1
echo "after GC:  $(metrics)"
wait "$lg"
trap - EXIT
grep -E 'RSS|per call-second|^calls' "$wd/report.txt"
rm -rf "$wd"
