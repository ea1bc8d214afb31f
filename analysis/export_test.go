package analysis

// Test harness shared with the external test package (package
// analysis_test), which exists because it imports package media, and
// media imports this package.

// AnalyseForTest runs the corpus harness over pcm: the leg's summary, an
// IVR-only conversation's summary and every frame's settled talk label.
func AnalyseForTest(pcm []int16) (LegSummary, ConversationSummary, []bool) {
	r := analyse(pcm)
	return r.summary, r.conv, r.labels
}

// Signal generators and the corpus reader, for the external tests.
var (
	SyllablesForTest  = syllables
	SilenceForTest    = silence
	SecondsForTest    = seconds
	ConcatForTest     = concat
	AgreementForTest  = agreement
	CorpusFileForTest = func(name string) ([]int16, bool) {
		pcm, err := readWAV(speechDir + "/" + name)
		return pcm, err == nil
	}
)
