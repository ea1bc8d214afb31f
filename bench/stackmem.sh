#!/bin/bash
# stackmem.sh: goroutine stacks and heap of 1,000 IVR calls, read from
# hotline's metrics before and after a forced GC (/debug/pprof/heap?gc=1),
# then loadgen's own report (RSS per call, CPU per call-second).
#
# usage: bench/stackmem.sh HOTLINE_BIN [LOADGEN_BIN]
# (build them with: go build -o /tmp/hotline-main-bin ./cmd/hotline &&
#  go build -o /tmp/loadgen ./bench/loadgen)
set -euo pipefail
hotline=${1:?usage: stackmem.sh HOTLINE_BIN [LOADGEN_BIN]}
loadgen=${2:-/tmp/loadgen}
wd=$(mktemp -d)
printf 'http:\n  pprof: true\n' > "$wd/extra.yaml"
"$loadgen" -hotline "$hotline" -mode ivr -calls 1000 -cps 200 -hold 40s \
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
sleep 22 # the ramp (5 s) and settling
echo "before GC: $(metrics)"
curl -s "http://$http/debug/pprof/heap?gc=1" > /dev/null
sleep 1
echo "after GC:  $(metrics)"
wait "$lg"
trap - EXIT
grep -E 'RSS|per call-second|^calls' "$wd/report.txt"
rm -rf "$wd"
