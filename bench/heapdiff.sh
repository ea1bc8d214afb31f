#!/bin/bash
# heapdiff.sh: what a bridged call keeps live, by the code that allocated
# it. Two heap profiles after forced GCs: one once the agents have
# registered (before most calls), one once every call is up; the
# difference, divided by the calls added in between, is attributed to the
# first hotline function on each allocation's stack (allocations made
# inside sipgo are tagged "sipgo<-" and the hotline function that called
# into it). The heap profile samples; GODEBUG=memprofilerate=64 in
# hotline's environment makes it near exact (a wrapper script as
# HOTLINE_BIN), at some cost in CPU and memory, so read the split, not the
# total, from such a run.
#
# KEEP=1 keeps the two profiles (base.pb.gz, heap.pb.gz) and prints where.
#
# usage: [CALLS=2000] [KEEP=1] bench/heapdiff.sh HOTLINE_BIN [LOADGEN_BIN]
set -euo pipefail
. "$(dirname "$0")/loadgen.sh"
hotline=${1:?usage: heapdiff.sh HOTLINE_BIN [LOADGEN_BIN]}
loadgen=${2:-/tmp/loadgen}
calls=${CALLS:-2000}
wd=$(mktemp -d)
printf 'limits:\n  max_media_lateness: 0s\n  max_cpu_busy: 0\nhttp:\n  pprof: true\n' > "$wd/extra.yaml"
start_loadgen "$wd" "$loadgen" -hotline "$hotline" -mode bridged -calls "$calls" -cps 100 -hold 50s \
  -extra-yaml "$wd/extra.yaml"
metric() { curl -s "http://$http/metrics" | awk -v m="$1" '$1 == m { print int($2) }'; }
# loadgen registers calls/20+1 more agents than calls, then places calls.
agents=$((calls + calls / 20 + 1))
for _ in $(seq 600); do
  [ "$(metric hotline_registrar_bindings)" -ge "$agents" ] 2>/dev/null && break
  sleep 0.05
done
base=$(metric hotline_calls_active)
curl -s "http://$http/debug/pprof/heap?gc=1" > "$wd/base.pb.gz"
for _ in $(seq 600); do
  [ "$(metric hotline_calls_active)" -ge "$calls" ] 2>/dev/null && break
  sleep 0.5
done
sleep 3
up=$(metric hotline_calls_active)
curl -s "http://$http/debug/pprof/heap?gc=1" > "$wd/heap.pb.gz"
echo "calls up: $base at the first profile, $up at the second"
go tool pprof -sample_index=inuse_space -base "$wd/base.pb.gz" -raw "$hotline" "$wd/heap.pb.gz" 2>/dev/null |
  python3 -c '
import re, sys, collections
calls = int(sys.argv[1])
txt = sys.stdin.read()
samples, locations = txt.split("Samples:")[1].split("Locations")
names = dict(re.findall(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (\S+)", locations, re.M))
by = collections.Counter()
for m in re.finditer(r"^\s*-?\d+\s+-?\d+\s+-?\d+\s+(-?\d+):\s*(.*)$", samples, re.M):
    frames = [names.get(i, "?") for i in m.group(2).split()]
    ours = [f.split("/")[-1] for f in frames if "hotline-dev" in f]
    where = ours[0] if ours else frames[0]
    if any("emiago/sipgo" in f for f in frames):
        where = "sipgo<-" + (ours[0] if ours else "transport")
    by[where] += int(m.group(1))
for where, b in by.most_common(25):
    print("%7.2f KiB  %s" % (b / calls / 1024, where))
print("%7.2f KiB  in all, per call" % (sum(by.values()) / calls / 1024))
' "$((up - base))"
wait "$lg"
trap - EXIT
grep -E 'RSS|^calls' "$wd/report.txt"
if [ -n "${KEEP:-}" ]; then echo "profiles kept in $wd"; else rm -rf "$wd"; fi
