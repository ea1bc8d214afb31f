package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of the RTP port range. Ports below 1024 are privileged; RTP uses
// the even port and RTCP the odd one above it (RFC 3550 section 11).
const (
	minRTPPort = 1024
	maxRTPPort = 65535
)

// isBad reports whether key, or a section containing it, failed to decode.
func (d *decoder) isBad(key string) bool {
	for {
		if d.bad[key] {
			return true
		}
		var ok bool
		if key, ok = parentKey(key); !ok {
			return false
		}
	}
}

// parentKey returns the key of the section or list holding key:
// "queues[1].name" → "queues[1]" → "queues".
func parentKey(key string) (string, bool) {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return "", false
	}
	return key[:i], true
}

// lineOf returns the line a problem about key should point at: the key's own
// line; else the first of alts present in the file (for cross-field checks
// on a key the file left at its default, the key the file did change); else
// the nearest enclosing section present; else 0.
func (d *decoder) lineOf(key string, alts ...string) int {
	if l, ok := d.lines[key]; ok {
		return l
	}
	for _, a := range alts {
		if l, ok := d.lines[a]; ok {
			return l
		}
	}
	for {
		var ok bool
		if key, ok = parentKey(key); !ok {
			return 0
		}
		if l, ok := d.lines[key]; ok {
			return l
		}
	}
}

// report adds a validation problem about key. Callers skip keys that failed
// to decode, which were reported already.
func (d *decoder) report(key string, alts []string, format string, args ...any) {
	d.add(d.lineOf(key, alts...), key, format, args...)
}

// validate checks c after decoding. Keys that failed to decode were already
// reported and are skipped. It fills c.Location and resolves file names.
func (d *decoder) validate(c *Config) {
	ok := func(keys ...string) bool {
		for _, k := range keys {
			if d.isBad(k) {
				return false
			}
		}
		return true
	}
	base := filepath.Dir(d.file)

	if ok("company.audio") && c.Company.Audio != "" {
		c.Company.Audio = d.checkFile("company.audio", base, c.Company.Audio)
	}

	if ok("language") && c.Language != "zh-CN" && c.Language != "en" {
		d.report("language", nil, "unsupported language %q (want zh-CN or en)", c.Language)
	}

	if ok("timezone") {
		c.Location = nil
		if c.Timezone == "" {
			d.report("timezone", nil, "empty time zone; want an IANA name like Asia/Shanghai")
		} else if loc, err := time.LoadLocation(c.Timezone); err != nil {
			d.report("timezone", nil, "unknown time zone %q; want an IANA name like Asia/Shanghai", c.Timezone)
		} else {
			c.Location = loc
		}
	}

	// R2: each greeting variant must start after the previous one, or a
	// variant would never be heard.
	parts := []struct {
		name string
		at   ClockTime
	}{
		{"morning", c.DayParts.Morning},
		{"noon", c.DayParts.Noon},
		{"afternoon", c.DayParts.Afternoon},
		{"evening", c.DayParts.Evening},
	}
	for i := 1; i < len(parts); i++ {
		prev, cur := parts[i-1], parts[i]
		pk, ck := "day_parts."+prev.name, "day_parts."+cur.name
		if ok(pk, ck) && cur.at.Minutes() <= prev.at.Minutes() {
			d.report(ck, []string{pk}, "%s is not after %s (%s); day parts must be strictly increasing", cur.at, prev.name, prev.at)
		}
	}

	ringOK := ok("ring.on", "ring.off")
	if ok("ring.on") && c.Ring.On <= 0 {
		ringOK = false
		d.report("ring.on", nil, "must be positive, got %s", c.Ring.On)
	}
	if ok("ring.off") && c.Ring.Off < 0 {
		ringOK = false
		d.report("ring.off", nil, "must not be negative, got %s", c.Ring.Off)
	}
	if ok("answer.delay") {
		switch limit := 3 * c.Ring.Cycle(); {
		case c.Answer.Delay < 0:
			d.report("answer.delay", nil, "answer delay %s is negative", c.Answer.Delay)
		case ringOK && c.Answer.Delay > limit:
			// R1: answer within three rings.
			d.report("answer.delay", []string{"ring.on", "ring.off"}, "answer delay %s is beyond three rings (%s)", c.Answer.Delay, limit)
		}
	}
	if ok("closing.safety_timeout") && c.Closing.SafetyTimeout <= 0 {
		d.report("closing.safety_timeout", nil, "must be positive, got %s", c.Closing.SafetyTimeout)
	}

	if ok("sip.listen") {
		d.hostPort("sip.listen", c.SIP.Listen)
	}
	if ok("sip.advertise") && c.SIP.Advertise != "" && net.ParseIP(c.SIP.Advertise) == nil {
		d.report("sip.advertise", nil, "%q is not an IP address (leave it empty to use the address that routes to the caller)", c.SIP.Advertise)
	}
	if ok("http.listen") {
		d.hostPort("http.listen", c.HTTP.Listen)
	}

	if ok("rtp.bind") && net.ParseIP(c.RTP.Bind) == nil {
		d.report("rtp.bind", nil, "%q is not an IP address", c.RTP.Bind)
	}
	minOK := ok("rtp.port_min") && d.rtpPort("rtp.port_min", c.RTP.PortMin)
	maxOK := ok("rtp.port_max") && d.rtpPort("rtp.port_max", c.RTP.PortMax)
	if minOK && maxOK && c.RTP.PortMin >= c.RTP.PortMax {
		d.report("rtp.port_max", []string{"rtp.port_min"}, "empty port range: port_max %d must be above port_min %d", c.RTP.PortMax, c.RTP.PortMin)
	}
	if ok("rtp.transport") && c.RTP.Transport != TransportPerCall && c.RTP.Transport != TransportShared {
		d.report("rtp.transport", nil, "unknown value %q (want %s or %s)", c.RTP.Transport, TransportPerCall, TransportShared)
	}
	if ok("limits.max_calls") && c.Limits.MaxCalls < 0 {
		d.report("limits.max_calls", nil, "must not be negative (0 = no limit), got %d", c.Limits.MaxCalls)
	}
	if ok("limits.retry_after") && (c.Limits.RetryAfter < time.Second || c.Limits.RetryAfter%time.Second != 0) {
		d.report("limits.retry_after", nil, "must be whole seconds, at least 1s (Retry-After counts seconds), got %s", c.Limits.RetryAfter)
	}
	if ok("limits.max_media_lateness") && c.Limits.MaxMediaLateness != 0 && c.Limits.MaxMediaLateness < time.Millisecond {
		d.report("limits.max_media_lateness", nil, "must be 0 (not judged) or at least 1ms, got %s", c.Limits.MaxMediaLateness)
	}
	if ok("limits.max_cpu_busy") && (c.Limits.MaxCPUBusy < 0 || c.Limits.MaxCPUBusy > 100) {
		d.report("limits.max_cpu_busy", nil, "must be a percentage of the CPUs, 1 to 100, or 0 (not judged), got %d", c.Limits.MaxCPUBusy)
	}
	if ok("process.nice") && (c.Process.Nice < -20 || c.Process.Nice > 19) {
		d.report("process.nice", nil, "must be a nice value, -20 (first) to 19 (last), or 0 (as started), got %d", c.Process.Nice)
	}
	if ok("process.gc_percent") && c.Process.GCPercent != 0 && (c.Process.GCPercent < 10 || c.Process.GCPercent > 1000) {
		d.report("process.gc_percent", nil, "must be a GOGC percentage, 10 to 1000, or 0 (as started), got %d", c.Process.GCPercent)
	}
	if ok("rtp.inactivity_timeout") && c.RTP.InactivityTimeout <= 0 {
		d.report("rtp.inactivity_timeout", nil, "must be positive, got %s", c.RTP.InactivityTimeout)
	}

	ids := make([]string, 0, len(c.Prompts))
	for id := range c.Prompts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		key := "prompts." + id
		if !ok(key) {
			continue
		}
		if c.Prompts[id] == "" {
			d.report(key, nil, "empty file name")
			continue
		}
		c.Prompts[id] = d.checkFile(key, base, c.Prompts[id])
	}

	if ok("database.driver") && c.Database.Driver != "sqlite" {
		d.report("database.driver", nil, "unsupported driver %q (only sqlite is supported for now)", c.Database.Driver)
	}
	if ok("database.path") && c.Database.Path == "" {
		d.report("database.path", nil, "empty path; want an SQLite file name like hotline.db")
	}

	queues := d.validateQueues(c)
	d.validateAgents(c, queues)
	d.validateRegistrar(&c.Registrar)
	d.validateSpeech(&c.Speech)
	if ok("routing.default_queue") && c.Routing.DefaultQueue != "" {
		d.queueRef("routing.default_queue", []string{"queues"}, c.Routing.DefaultQueue, queues)
	}
	if ok("api.token") {
		d.validateToken("api.token", c.API.Token)
	}

	if c.Menu != nil && ok("menu") {
		d.validateMenu(c.Menu, ok, queues)
	}
}

func (d *decoder) validateMenu(m *Menu, ok func(...string) bool, queues queueNames) {
	if ok("menu.prompt") && m.Prompt == "" {
		d.report("menu.prompt", nil, "empty prompt ID")
	}
	if ok("menu.timeout") && m.Timeout <= 0 {
		d.report("menu.timeout", nil, "must be positive, got %s", m.Timeout)
	}
	if ok("menu.max_repeats") && m.MaxRepeats < 1 {
		d.report("menu.max_repeats", nil, "must be at least 1, got %d", m.MaxRepeats)
	}
	if !ok("menu.options") {
		return
	}
	if len(m.Options) == 0 {
		d.report("menu.options", nil, "a menu needs at least one option")
		return
	}
	keys := make([]string, 0, len(m.Options))
	for k := range m.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, p := m.Options[k], "menu.options."+k
		if !isDTMFKey(k) {
			d.report(p, nil, "%q is not a single DTMF key (0-9, *, #)", k)
		}
		if !ok(p+".action") || !ok(p+".prompt") || !ok(p+".queue") {
			continue
		}
		switch o.Action {
		case ActionRepeatGreeting, ActionPlay, ActionQueue, ActionClose:
		case "":
			d.report(p+".action", nil, "missing action (want %s)", actionList)
			continue
		default:
			d.report(p+".action", nil, "unknown action %q (want %s)", o.Action, actionList)
			continue
		}
		switch {
		case o.Action == ActionPlay && o.Prompt == "":
			d.report(p+".prompt", nil, "required for action play")
		case o.Action != ActionPlay && o.Prompt != "":
			d.report(p+".prompt", nil, "only allowed with action play, not %s", o.Action)
		}
		switch {
		case o.Action == ActionQueue && o.Queue == "":
			d.report(p+".queue", nil, "required for action queue")
		case o.Action == ActionQueue:
			d.queueRef(p+".queue", nil, o.Queue, queues)
		case o.Queue != "":
			d.report(p+".queue", nil, "only allowed with action queue, not %s", o.Action)
		}
	}
}

// actionList names the menu actions for problems.
var actionList = strings.Join([]string{ActionRepeatGreeting, ActionPlay, ActionQueue}, ", ") + " or " + ActionClose

func isDTMFKey(k string) bool {
	return len(k) == 1 && (isDigit(k[0]) || k[0] == '*' || k[0] == '#')
}

// hostPort checks a listen address.
func (d *decoder) hostPort(key, s string) {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		d.report(key, nil, "want host:port like 0.0.0.0:5060, got %q", s)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		d.report(key, nil, "port %q in %q is not a number 0..65535", port, s)
	}
}

// rtpPort checks one end of the RTP port range and reports whether it is
// usable.
func (d *decoder) rtpPort(key string, p int) bool {
	switch {
	case p < minRTPPort || p > maxRTPPort:
		d.report(key, nil, "port %d is outside %d..%d", p, minRTPPort, maxRTPPort)
		return false
	case p%2 != 0:
		d.report(key, nil, "port %d is odd; RTP uses even ports (RTCP takes the odd one above)", p)
		return false
	}
	return true
}

// checkFile resolves a file name from the config against base (the config
// file's directory), checks that it names an existing regular file and
// returns the absolute name.
func (d *decoder) checkFile(key, base, name string) string {
	full := name
	if !filepath.IsAbs(full) {
		full = filepath.Join(base, full)
	}
	if abs, err := filepath.Abs(full); err == nil {
		full = abs
	}
	st, err := os.Stat(full)
	switch {
	case os.IsNotExist(err):
		d.report(key, nil, "file %q not found (looked for %s)", name, full)
	case err != nil:
		d.report(key, nil, "file %q: %v", name, unwrapPathError(err))
	case !st.Mode().IsRegular():
		d.report(key, nil, "%q is not a regular file", name)
	}
	return full
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s", pe.Err)
	}
	return err
}
