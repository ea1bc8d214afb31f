package config

import "time"

// Speech configures the speech measures of R9: the live dead-air alert
// and the pace band.
type Speech struct {
	// DeadAirAlert: dead air (nobody speaking while connected and not on
	// hold) longer than this raises an alert: an event, a MESSAGE to the
	// agent's phone and a counter.
	DeadAirAlert time.Duration `yaml:"dead_air_alert"`
	// PaceMin and PaceMax bound the acceptable pace in syllables
	// (= Mandarin characters) per minute; outside is an event.
	PaceMin int `yaml:"pace_min"`
	PaceMax int `yaml:"pace_max"`
	// DeadAirPrompt also plays a gentle reassurance to the caller when a
	// dead-air alert is raised on a bridged call (off by default: the
	// agent is alerted first).
	DeadAirPrompt bool `yaml:"dead_air_prompt"`
}

// Metrics configures what the Prometheus series may carry.
type Metrics struct {
	// AgentLabels adds per-agent series (agent user as a label), e.g. each
	// agent's pace distribution. Off by default: agent names are personal
	// data on a shared dashboard.
	AgentLabels bool `yaml:"agent_labels"`
}

// validateSpeech checks the speech settings.
func (d *decoder) validateSpeech(s *Speech) {
	d.timer("speech.dead_air_alert", s.DeadAirAlert, true)
	minOK := d.ok("speech.pace_min")
	maxOK := d.ok("speech.pace_max")
	if minOK && s.PaceMin <= 0 {
		d.report("speech.pace_min", nil, "must be positive, got %d", s.PaceMin)
		minOK = false
	}
	if maxOK && s.PaceMin >= s.PaceMax && minOK {
		d.report("speech.pace_max", []string{"speech.pace_min"}, "pace_max %d must be above pace_min %d", s.PaceMax, s.PaceMin)
	}
}
