package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func agentPaceCounts(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "hotline_agent_speech_pace_syllables_per_minute" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// Agent names reach the metrics only when the operator turns per-agent
// series on.
func TestPerAgentPaceOnlyWhenAgentLabelsAreOn(t *testing.T) {
	off := prometheus.NewRegistry()
	NewSpeechRecorder(off, []string{"support"}, nil).AgentPace("1001", 120)
	if got := agentPaceCounts(t, off); len(got) != 0 {
		t.Fatalf("per-agent series present without agent labels: %v", got)
	}
	on := prometheus.NewRegistry()
	NewSpeechRecorder(on, []string{"support"}, []string{"1001", "1002"}).AgentPace("1001", 131)
	if got := agentPaceCounts(t, on); got["1001"] != 1 || got["1002"] != 0 || len(got) != 2 {
		t.Fatalf("per-agent pace samples %v, want 1001:1 and 1002:0", got)
	}
}
