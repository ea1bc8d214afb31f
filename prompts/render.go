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
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	espeakBinary = "espeak-ng"
	// renderTimeout bounds one espeak-ng run; a short name takes well under
	// a second, so hitting it means espeak-ng is stuck.
	renderTimeout = 15 * time.Second
	// maxRenderRunes keeps rendered text short (the greeting of R2, the
	// whisper before a call): a company or queue name longer than this is a
	// configuration mistake, not a name.
	maxRenderRunes = 100
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

// errNoEspeak means espeak-ng is not on PATH: rendering is impossible, and
// the log should say how to fix that rather than repeat a lookup error.
var errNoEspeak = errors.New("espeak-ng not on PATH")

// renderCompany speaks name with espeak-ng. It returns nil, after logging a
// warning, when that is impossible: the built-in prompt then stays.
func renderCompany(name, lang string, log *slog.Logger) *Audio {
	samples, vn, err := speakText(name, lang)
	switch {
	case errors.Is(err, errNoEspeak):
		log.Warn("prompts: espeak-ng not on PATH; keeping built-in company prompt",
			"company_name", name, "hint", "install espeak-ng or set company audio")
		return nil
	case errors.Is(err, errBadText):
		log.Warn("prompts: keeping built-in company prompt", "company_name", name, "error", err)
		return nil
	case err != nil:
		log.Warn("prompts: rendering company name failed; keeping built-in company prompt",
			"company_name", name, "error", err)
		return nil
	}
	a := encode(Company, samples, "espeak-ng:"+lang)
	log.Info("prompts: rendered company name", "company_name", name, "voice", vn, "duration", a.Duration())
	return a
}

// renderEntry is one text of Render's cache. once makes concurrent first
// calls for the same text render it once and share the result, a failure
// included.
type renderEntry struct {
	once  sync.Once
	audio *Audio
}

// RenderedPrefix starts the ID of audio made by Render; the text follows,
// so call records show what was said. No catalogue ID has this prefix.
const RenderedPrefix = "rendered:"

// Render speaks arbitrary short text (e.g. a queue name for the agent
// whisper, after WhisperCall) with espeak-ng in the catalogue's language
// and voice, trimmed and normalised like the built-in prompts. The result
// is cached by text: the same text always gives the same *Audio, whose ID
// is RenderedPrefix+text and whose Source is "espeak-ng:<lang>".
//
// It returns nil, and logs a Warn once per text, if espeak-ng is absent,
// fails, or the text is empty, not UTF-8 or over 100 characters. Safe for
// concurrent use; rendering takes a fraction of a second, so call it at
// startup (for every configured queue name), not per call.
func (c *Catalogue) Render(text string) *Audio {
	c.renderMu.Lock()
	if c.rendered == nil {
		c.rendered = map[string]*renderEntry{}
	}
	e, ok := c.rendered[text]
	if !ok {
		e = &renderEntry{}
		c.rendered[text] = e
	}
	c.renderMu.Unlock()
	e.once.Do(func() { e.audio = c.render(text) })
	return e.audio
}

func (c *Catalogue) render(text string) *Audio {
	log := c.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	samples, vn, err := speakText(text, c.lang)
	if errors.Is(err, errNoEspeak) {
		log.Warn("prompts: espeak-ng not on PATH; cannot render text",
			"text", text, "hint", "install espeak-ng")
		return nil
	}
	if err != nil {
		log.Warn("prompts: rendering text failed", "text", text, "error", err)
		return nil
	}
	a := encode(ID(RenderedPrefix+text), samples, "espeak-ng:"+c.lang)
	log.Info("prompts: rendered text", "text", text, "voice", vn, "duration", a.Duration())
	return a
}

// speakText renders text with the first of the language's voices that
// works, returning the samples and the voice used.
func speakText(text, lang string) ([]int16, string, error) {
	clean, err := sanitizeText(text)
	if err != nil {
		return nil, "", err
	}
	bin, err := exec.LookPath(espeakBinary)
	if err != nil {
		return nil, "", errNoEspeak
	}
	v := voices[lang]
	var errs []error
	for _, vn := range v.names {
		samples, err := speak(bin, vn, v.rate, clean)
		if err != nil {
			errs = append(errs, fmt.Errorf("voice %s: %w", vn, err))
			continue
		}
		return samples, vn, nil
	}
	return nil, "", errors.Join(errs...)
}

// errBadText marks text refused before espeak-ng is run.
var errBadText = errors.New("text cannot be rendered")

// sanitizeText drops control characters (the text is one line of speech)
// and refuses text that could not be a name.
func sanitizeText(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: not valid UTF-8", errBadText)
	}
	clean := strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text))
	if clean == "" {
		return "", fmt.Errorf("%w: nothing to say", errBadText)
	}
	if n := utf8.RuneCountInString(clean); n > maxRenderRunes {
		return "", fmt.Errorf("%w: %d characters; at most %d are rendered", errBadText, n, maxRenderRunes)
	}
	return clean, nil
}

// speak runs espeak-ng into a temporary WAV file (its --stdout stream has
// no final sizes in the header) and returns the result as 8 kHz samples,
// trimmed and normalised like render.sh's output.
func speak(bin, voiceName string, rate int, text string) ([]int16, error) {
	tmp, err := os.CreateTemp("", "hotline-speech-*.wav")
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
