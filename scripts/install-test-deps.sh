#!/usr/bin/env bash
# Installs the real peers the test suite drives: sipp (Debian's sip-tester)
# as the caller, baresip (baresip-core) as the agents' softphones,
# linphonec (linphone-cli) as the agent softphone that transfers attended,
# espeak-ng for the prompt renderer's tests, promtool (prometheus) for the
# metrics, recording rules and alert tests. Idempotent; does nothing when
# everything is present.
set -euo pipefail

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip-core)
command -v linphonec >/dev/null 2>&1 || need+=(linphone-cli)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "need root (or sudo) to install ${need[*]} with apt-get" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
