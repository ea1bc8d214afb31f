# loadgen.sh: sourced by the bench scripts that read a live hotline while
# loadgen drives it.

# start_loadgen WORKDIR LOADGEN_BIN ARGS...: runs loadgen in the
# background (its run files in WORKDIR/run, its report in
# WORKDIR/report.txt), sets lg to its PID, kills it if the script exits
# early, and sets http to hotline's HTTP address once its metrics answer.
start_loadgen() {
  local wd=$1
  shift
  "$@" -workdir "$wd/run" -quiet > "$wd/report.txt" 2>&1 &
  lg=$!
  trap 'kill "$lg" 2>/dev/null || true' EXIT
  http=
  local cfg
  for _ in $(seq 300); do
    cfg=$(ls "$wd"/run/*.yaml 2>/dev/null | head -1 || true)
    if [ -n "$cfg" ]; then
      http=$(grep -A3 '^http:' "$cfg" | grep listen | sed 's/.*listen: *//; s/"//g')
      curl -sf "http://$http/metrics" > /dev/null && return 0
    fi
    sleep 0.1
  done
  echo "$(basename "$0"): hotline's metrics never answered" >&2
  exit 1
}
