#!/usr/bin/env bash
# render.sh regenerates the built-in prompt audio from texts.tsv:
#
#   prompts/audio/<lang>/<id>.wav   8 kHz, mono, 16-bit signed PCM
#
# Each prompt is spoken by espeak-ng, trimmed of leading and trailing
# silence (the greeting is several prompts played back to back, so padding
# would become audible gaps), resampled to 8 kHz and normalised to -3 dBFS.
# Running it twice yields the same files: sox runs in repeatable mode
# without dither and only rows of texts.tsv are kept under audio/.
#
# Usage: prompts/render.sh            (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
texts="$here/texts.tsv"
out="$here/audio"

for tool in espeak-ng sox; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "render.sh: $tool not found on PATH (apt-get install -y espeak-ng sox)" >&2
		exit 1
	fi
done

# Speaking rates in espeak-ng words per minute. For Mandarin, -s 100 comes
# out at about 120 characters per minute over the rendered prompts, the
# house pace of rule R9 (语速适中,每分钟应保持在120个字左右). English at 150
# is a calm telephone pace.
zh_rate=100
en_rate=150

# espeak-ng 1.51's "cmn" voice reads Han characters as pinyin spelled out in
# English ("dui four bu four ..."); "cmn-latn-pinyin" uses the same
# dictionary with Mandarin phonemes and tones, and also reads the pinyin
# hints in the "say" column.
zh_voice=cmn
if espeak-ng --voices=cmn | grep -q 'cmn-latn-pinyin'; then
	zh_voice=cmn-latn-pinyin
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Trim: drop audio below 0.5 % of full scale at both ends (reverse trick,
# since sox's silence effect only trims the start reliably).
trim=(silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse)

declare -A keep=()
while IFS=$'\t' read -r id lang text say || [[ -n "${id:-}" ]]; do
	[[ -z "${id:-}" || "$id" == \#* ]] && continue
	if [[ -z "${lang:-}" || -z "${text:-}" ]]; then
		echo "render.sh: texts.tsv: row for '$id' needs id, lang and text" >&2
		exit 1
	fi
	case "$lang" in
	zh-CN) voice=$zh_voice rate=$zh_rate ;;
	en) voice=en rate=$en_rate ;;
	*)
		echo "render.sh: texts.tsv: $id: unknown language '$lang'" >&2
		exit 1
		;;
	esac
	speak="${say:-$text}"
	mkdir -p "$out/$lang"
	dst="$out/$lang/$id.wav"
	espeak-ng -v "$voice" -s "$rate" -w "$tmp/raw.wav" -- "$speak"
	sox -R -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/out.wav" \
		gain -6 highpass 60 "${trim[@]}" rate 8000 norm -3
	mv "$tmp/out.wav" "$dst"
	keep["$lang/$id.wav"]=1
	printf '%-6s %-22s %6.2f s  %s\n' "$lang" "$id" "$(soxi -D "$dst")" "$text"
done <"$texts"

# Remove audio of prompts no longer in the table so the embedded set matches it.
while IFS= read -r -d '' f; do
	rel="${f#"$out"/}"
	if [[ -z "${keep[$rel]:-}" ]]; then
		rm -f -- "$f"
		echo "removed stale $rel"
	fi
done < <(find "$out" -name '*.wav' -print0)

total=$(du -cb "$out"/*/*.wav | tail -n1 | cut -f1)
echo "total audio: $total bytes"
