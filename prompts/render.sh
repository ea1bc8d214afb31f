#!/usr/bin/env bash
# render.sh regenerates the built-in prompt audio from texts.tsv:
#
#   prompts/audio/<lang>/<id>.wav   8 kHz, mono, G.711 μ-law
#   prompts/audio/music.wav         the hold music, shared by every language
#
# The files are stored in μ-law, the encoding calls hear, rather than
# 16-bit PCM: that halves the embedded size (the binary carries every
# prompt of every language) and loses nothing a PCMU call can hear; PCMA
# calls get the standard G.711 μ-law to A-law conversion.
#
# Each prompt is spoken by espeak-ng, trimmed of leading and trailing
# silence (the greeting is several prompts played back to back, so padding
# would become audible gaps), resampled to 8 kHz and normalised to -3 dBFS.
# The hold music is synthesised with sox (see render_music below).
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
	sox -R -D "$tmp/raw.wav" -r 8000 -c 1 -b 8 -e mu-law "$tmp/out.wav" \
		gain -6 highpass 60 "${trim[@]}" rate 8000 norm -3
	mv "$tmp/out.wav" "$dst"
	keep["$lang/$id.wav"]=1
	printf '%-6s %-22s %6.2f s  %s\n' "$lang" "$id" "$(soxi -D "$dst")" "$text"
done <"$texts"

# render_music writes the hold music to $1: a slow eight-chord progression
# (Cmaj7 Am7 Fmaj7 G6 Em7 Am7 Dm7 Gsus4, three seconds each) of soft sine
# pads over a sine bass, with a plucked, low-passed arpeggio that changes
# with every chord so that the 24 s loop does not sound like one bar
# repeated. Gsus4 leads back into Cmaj7, so the loop also makes musical
# sense when it restarts.
#
# Seamless looping (R10: the caller hears the music for minutes): every
# note starts from silence, and the notes still sounding after 24 s (the
# last chord's release) are cut off and mixed back onto the start. The
# loop is then one period of a continuous signal: the step from its last
# sample to its first is an ordinary sample-to-sample step, with no click
# and no fade dip. 24 s is 1200 whole 20 ms frames, so frame padding never
# adds silence at the join either. Finally the loop is scaled to an RMS of
# -18 dBFS, well below the -3 dBFS peak of the speech prompts, as hold
# music should sit.
render_music() {
	local dst=$1 chord_s=3 rate=8000
	# Per chord: bass | pad notes | arpeggio as start:note. Notes are
	# semitones from A4 (440 Hz), as sox's synth accepts them ("%-9" is C4).
	local chords=(
		"-21|-9 -5 -2 2|0:-2 0.75:3 1.5:7 2.25:5"
		"-12|-12 -9 -5 -2|0:3 0.75:7 1.5:10 2.25:7"
		"-16|-16 -12 -9 -5|0:0 1:3 1.5:8 2.25:7"
		"-14|-14 -10 -7 -5|0:5 0.75:2 1.5:-2 2.25:2"
		"-17|-5 -2 2 5|0:2 0.75:7 1.5:10 2.25:5"
		"-12|-12 -9 -5 -2|0:3 1:0 1.5:7 2.25:3"
		"-19|-7 -4 0 3|0:8 0.75:5 1.5:0 2.25:3"
		"-14|-14 -9 -7 -4|0:5 0.75:3 1.5:2 2.25:5"
	)
	local dir="$tmp/music" n=0 mix=() i bass pad arp t0 p ev at s
	mkdir -p "$dir"
	# note START EFFECTS... renders one note and queues it for the mix.
	note() {
		local start=$1
		shift
		n=$((n + 1))
		sox -R -D -n -r "$rate" -c 1 -b 16 "$dir/$n.wav" "$@" pad "$start"
		mix+=(-v 1 "$dir/$n.wav")
	}
	for i in "${!chords[@]}"; do
		IFS='|' read -r bass pad arp <<<"${chords[$i]}"
		t0=$((i * chord_s))
		note "$t0" synth 4.5 sine "%$bass" fade t 0.4 4.5 2 gain -24
		for p in $pad; do
			note "$t0" synth 4.5 sine "%$p" fade t 1.2 4.5 2 gain -30
		done
		for ev in $arp; do
			at=${ev%%:*} s=${ev#*:}
			note "$(awk -v a="$t0" -v b="$at" 'BEGIN { print a + b }')" \
				synth 2.5 pluck "%$s" lowpass 1600 lowpass 1600 fade q 0.02 2.5 2 gain -16
		done
	done
	local len=$((${#chords[@]} * chord_s * rate))
	sox -R -D -m "${mix[@]}" -b 16 "$dir/full.wav"
	sox -R -D "$dir/full.wav" "$dir/head.wav" trim 0 "${len}s"
	sox -R -D "$dir/full.wav" "$dir/tail.wav" trim "${len}s"
	sox -R -D -m -v 1 "$dir/head.wav" -v 1 "$dir/tail.wav" "$dir/loop.wav"
	local rms
	rms=$(sox "$dir/loop.wav" -n stats 2>&1 | awk '/^RMS lev dB/ { print $4 }')
	sox -R -D "$dir/loop.wav" -b 8 -e mu-law "$dst" gain "$(awk -v r="$rms" 'BEGIN { print -18 - r }')"
}

render_music "$out/music.wav"
keep["music.wav"]=1
printf '%-6s %-22s %6.2f s  %s\n' "*" music "$(soxi -D "$out/music.wav")" "(hold music)"

# Remove audio of prompts no longer in the table so the embedded set matches it.
while IFS= read -r -d '' f; do
	rel="${f#"$out"/}"
	if [[ -z "${keep[$rel]:-}" ]]; then
		rm -f -- "$f"
		echo "removed stale $rel"
	fi
done < <(find "$out" -name '*.wav' -print0)

total=$(find "$out" -name '*.wav' -printf '%s\n' | awk '{ t += $1 } END { print t }')
echo "total audio: $total bytes"
