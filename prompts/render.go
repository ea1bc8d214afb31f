package prompts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	espeakBinary = "espeak-ng"
	// renderTimeout bounds one espeak-ng run; a short name takes well under
	// a second, so hitting it means espeak-ng is stuck.
	renderTimeout = 15 * time.Second
	// maxCompanyNameRunes keeps the greeting short (R2): a company name
	// longer than this is a configuration mistake, not a name.
	maxCompanyNameRunes = 100
	// trimThreshold is 0.5 % of full scale, the level render.sh trims at.
	trimThreshold = 164
	// normPeak is -3 dBFS, the level render.sh normalises to.
	normPeak = 23198
)

// voice is how espeak-ng speaks one catalogue language. It must match
// render.sh so a rendered company name sounds like the prompts around it.
type voice struct {
	names []string // tried in order
	rate  int      // espeak-ng -s, words per minute
}

var voices = map[string]voice{
	// espeak-ng 1.51's "cmn" voice spells Han characters out as English
	// pinyin ("dui four ..."); "cmn-latn-pinyin" speaks them with Mandarin
	// tones. "cmn" stays as the fallback for builds without it. At -s 100
	// the pace is about 120 characters a minute (R9).
	LanguageZhCN: {names: []string{"cmn-latn-pinyin", "cmn"}, rate: 100},
	LanguageEn:   {names: []string{"en"}, rate: 150},
}

// renderCompany speaks name with espeak-ng. It returns nil, after logging a
// warning, when that is impossible: the built-in prompt then stays.
func renderCompany(name, lang string, log *slog.Logger) *Audio {
	text, err := sanitizeName(name)
	if err != nil {
		log.Warn("prompts: keeping built-in company prompt", "company_name", name, "error", err)
		return nil
	}
	bin, err := exec.LookPath(espeakBinary)
	if err != nil {
		log.Warn("prompts: espeak-ng not on PATH; keeping built-in company prompt",
			"company_name", name, "hint", "install espeak-ng or set company audio")
		return nil
	}
	v := voices[lang]
	var errs []error
	for _, vn := range v.names {
		samples, err := speak(bin, vn, v.rate, text)
		if err != nil {
			errs = append(errs, fmt.Errorf("voice %s: %w", vn, err))
			continue
		}
		src := "espeak-ng:" + lang
		a := encode(Company, samples, src)
		log.Info("prompts: rendered company name", "company_name", name, "voice", vn, "duration", a.Duration())
		return a
	}
	log.Warn("prompts: rendering company name failed; keeping built-in company prompt",
		"company_name", name, "error", errors.Join(errs...))
	return nil
}

// sanitizeName drops control characters (a name is one line of speech)
// and refuses names that could not be a company name.
func sanitizeName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", errors.New("company name is not valid UTF-8")
	}
	text := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name))
	if text == "" {
		return "", errors.New("company name has nothing to say")
	}
	if n := utf8.RuneCountInString(text); n > maxCompanyNameRunes {
		return "", fmt.Errorf("company name has %d characters; at most %d are rendered", n, maxCompanyNameRunes)
	}
	return text, nil
}

// speak runs espeak-ng into a temporary WAV file (its --stdout stream has
// no final sizes in the header) and returns the result as 8 kHz samples,
// trimmed and normalised like render.sh's output.
func speak(bin, voiceName string, rate int, text string) ([]int16, error) {
	tmp, err := os.CreateTemp("", "hotline-company-*.wav")
	if err != nil {
		return nil, err
	}
	out := tmp.Name()
	tmp.Close()
	defer os.Remove(out)

	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	var stderr bytes.Buffer
	// "--" ends options: the name is text to speak even if it starts with "-".
	cmd := exec.CommandContext(ctx, bin, "-v", voiceName, "-s", fmt.Sprint(rate), "-w", out, "--", text)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}

	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	anyRate := func(hz uint32) bool { return hz >= 8000 && hz <= 96000 }
	pcm, format, err := decodeWAV(bufio.NewReader(f), anyRate, inputSize(f))
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	samples := normalise(trimSilence(resample(pcm, int(format.rate), SampleRate)))
	if len(samples) == 0 {
		return nil, errors.New("espeak-ng produced silence")
	}
	return samples, nil
}

// trimSilence cuts leading and trailing audio below trimThreshold so the
// prompt joins its neighbours in the greeting without gaps.
func trimSilence(s []int16) []int16 {
	loud := func(v int16) bool { return v > trimThreshold || v < -trimThreshold }
	start := 0
	for start < len(s) && !loud(s[start]) {
		start++
	}
	end := len(s)
	for end > start && !loud(s[end-1]) {
		end--
	}
	return s[start:end]
}

// normalise scales s in place so its peak sits at normPeak.
func normalise(s []int16) []int16 {
	var peak int32
	for _, v := range s {
		a := int32(v)
		if a < 0 {
			a = -a
		}
		peak = max(peak, a)
	}
	if peak == 0 {
		return s
	}
	g := float64(normPeak) / float64(peak)
	for i, v := range s {
		s[i] = clamp16(float32(float64(v) * g))
	}
	return s
}
