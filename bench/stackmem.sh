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
. "$(dirname "$0")/loadgen.sh"
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
start_loadgen "$wd" "$loadgen" -hotline "$hotline" -mode "$mode" -calls 1000 -cps "$cps" -hold 40s \
  -extra-yaml "$wd/extra.yaml"
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
