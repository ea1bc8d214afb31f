package prompts

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
)

// builtIn holds the audio rendered by render.sh: the speech of texts.tsv
// under audio/<lang>/, the language-independent music under audio/.
//
//go:embed audio
var builtIn embed.FS

// Supported catalogue languages. Mandarin is the default (see DOMAIN.md).
const (
	LanguageZhCN = "zh-CN"
	LanguageEn   = "en"
)

// builtInCompanyName is the text of each built-in Company prompt; a
// configured name equal to it needs no rendering.
var builtInCompanyName = map[string]string{
	LanguageZhCN: "热线服务中心",
	LanguageEn:   "Hotline service centre",
}

// Languages lists the languages with a built-in catalogue, default first.
func Languages() []string {
	return []string{LanguageZhCN, LanguageEn}
}

// Options selects the catalogue.
type Options struct {
	// Language is "zh-CN" (default when empty) or "en", matched without
	// regard to case.
	Language string
	// Overrides maps prompt ID to a WAV file (8 or 16 kHz mono 16-bit PCM)
	// that replaces the built-in audio. An unknown ID is an error; an empty
	// path means no override.
	Overrides map[string]string
	// CompanyName, if non-empty, different from the built-in name and no
	// company audio file is configured (CompanyAudio or Overrides), is
	// rendered with espeak-ng at load when espeak-ng is on PATH (logged at
	// Info). Without espeak-ng, or if rendering fails, the built-in company
	// prompt is kept and a warning logged: a missing voice is not worth
	// refusing to start.
	CompanyName string
	// CompanyAudio is a WAV file replacing the company prompt (same format
	// rules as Overrides). It wins over Overrides["company"].
	CompanyAudio string
	// Logger receives load decisions; may be nil.
	Logger *slog.Logger
}

// Catalogue maps IDs to audio for one language. Safe for concurrent use:
// the prompts are read-only after Load, and Render guards its own cache.
type Catalogue struct {
	lang  string
	audio []*Audio // by index(id)
	log   *slog.Logger

	renderMu sync.Mutex
	rendered map[string]*renderEntry // by text, see Render
}

// Load builds the catalogue: built-ins for the language, then overrides.
// Errors name the prompt and file and say what is wrong, e.g.
// "prompts.hours: /x/y.wav: 44100 Hz stereo; want 8000 or 16000 Hz mono
// 16-bit PCM".
func Load(opts Options) (*Catalogue, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lang, err := canonicalLanguage(opts.Language)
	if err != nil {
		return nil, err
	}
	c := &Catalogue{lang: lang, audio: make([]*Audio, len(ids)), log: log}
	for i, id := range ids {
		a, err := loadBuiltIn(lang, id)
		if err != nil {
			return nil, err
		}
		c.audio[i] = a
	}

	// Sorted so that, with several bad entries, the same one is reported
	// on every start.
	keys := make([]string, 0, len(opts.Overrides))
	for k := range opts.Overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	companyFile := false
	for _, k := range keys {
		id, file := ID(k), opts.Overrides[k]
		if !Known(id) {
			return nil, fmt.Errorf("prompts.%s: %s: %w; known prompts: %s", k, file, ErrUnknownPrompt, knownList())
		}
		if file == "" {
			continue
		}
		if id == Company && opts.CompanyAudio != "" {
			log.Warn("prompts: company audio replaces the company prompt override",
				"override", file, "company_audio", opts.CompanyAudio)
			continue
		}
		if err := c.loadOverride(id, file, log); err != nil {
			return nil, err
		}
		companyFile = companyFile || id == Company
	}
	if opts.CompanyAudio != "" {
		if err := c.loadOverride(Company, opts.CompanyAudio, log); err != nil {
			return nil, err
		}
		companyFile = true
	}

	name := strings.TrimSpace(opts.CompanyName)
	if !companyFile && name != "" && name != builtInCompanyName[lang] {
		if a := renderCompany(name, lang, log); a != nil {
			c.audio[index(Company)] = a
		}
	}
	return c, nil
}

// Get returns the audio for id, or nil if unknown.
func (c *Catalogue) Get(id ID) *Audio {
	i := index(id)
	if i < 0 {
		return nil
	}
	return c.audio[i]
}

// Language of the catalogue: "zh-CN" or "en".
func (c *Catalogue) Language() string {
	return c.lang
}

func canonicalLanguage(lang string) (string, error) {
	if lang == "" {
		return LanguageZhCN, nil
	}
	for _, l := range Languages() {
		if strings.EqualFold(lang, l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("prompts: language %q: %w; want %s", lang, ErrUnknownLanguage, strings.Join(Languages(), " or "))
}

func loadBuiltIn(lang string, id ID) (*Audio, error) {
	name := path.Join("audio", lang, string(id)+".wav")
	if languageIndependent(id) {
		name = path.Join("audio", string(id)+".wav")
	}
	f, err := builtIn.Open(name)
	if err != nil {
		// Only possible if render.sh and the ID list disagree; tests catch it.
		return nil, fmt.Errorf("prompts.%s: built-in %s audio: %w", id, lang, err)
	}
	defer f.Close()
	samples, err := decodeBuiltInWAV(f, inputSize(f))
	if err != nil {
		return nil, fmt.Errorf("prompts.%s: built-in %s: %w", id, name, err)
	}
	return encode(id, samples, "built-in:"+lang), nil
}

func (c *Catalogue) loadOverride(id ID, file string, log *slog.Logger) error {
	samples, err := readWAVFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("prompts.%s: %w", id, err) // already names the file
		}
		return fmt.Errorf("prompts.%s: %s: %w", id, file, err)
	}
	a := encode(id, samples, file)
	c.audio[index(id)] = a
	log.Info("prompts: loaded override", "prompt", string(id), "file", file, "duration", a.Duration())
	return nil
}

func readWAVFile(file string) ([]int16, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples, err := decodeOperatorWAV(bufio.NewReaderSize(f, 32<<10), inputSize(f))
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, malformed("no audio samples")
	}
	return samples, nil
}

func knownList() string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}
