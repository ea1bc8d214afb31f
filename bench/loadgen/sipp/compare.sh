#!/bin/sh
# Cross-check of bench/loadgen with sipp: the same IVR load placed once by
# loadgen's own callers and once by sipp (uac.xml), each against a fresh
# hotline that loadgen starts and measures the same way. Prints both reports
# and appends both rows to a Markdown table.
#
#   bench/loadgen/sipp/compare.sh HOTLINE_BINARY [CALLS [CPS [HOLD]]]
#   bench/loadgen/sipp/compare.sh /tmp/hotline 200 20 30s
#
# Needs go, sipp (Debian's sip-tester), sox, and for sipp's RTP counts
# dumpcap and capinfos (wireshark). Each run holds the machine's benchmark
# lock (LOADGEN_LOCK, default /tmp/hotline-bench.lock; empty: no lock) and
# releases it between the runs.
set -eu
bin=${1:?usage: compare.sh HOTLINE_BINARY [CALLS [CPS [HOLD]]]}
calls=${2:-200}
cps=${3:-20}
hold=${4:-30s}
lock=${LOADGEN_LOCK-/tmp/hotline-bench.lock}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/loadgen-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

locked() {
	if [ -n "$lock" ]; then flock "$lock" "$@"; else "$@"; fi
}

(cd "$root" && go build -o "$work/loadgen" ./bench/loadgen)
cp "$root/bench/loadgen/sipp/uac.xml" "$work/"
# What both generators say: hotline's own zh-CN prompts, joined, µ-law.
sox "$root"/prompts/audio/zh-CN/*.wav -r 8000 -c 1 -e u-law "$work/speech.wav"

cd "$root"
echo "== loadgen callers"
locked "$work/loadgen" -hotline "$bin" -mode ivr -calls "$calls" -cps "$cps" -hold "$hold" \
	-audio "$work/speech.wav" -markdown "$work/table.md" -quiet
echo
echo "== sipp callers"
locked "$work/loadgen" -hotline "$bin" -sipp "$work/uac.xml" -calls "$calls" -cps "$cps" -hold "$hold" \
	-markdown "$work/table.md" -quiet
echo
echo "== both"
cat "$work/table.md"
