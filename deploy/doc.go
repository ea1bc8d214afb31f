// Package deploy holds what an operator installs next to hotline, not Go
// code: the Prometheus scrape configuration, recording and alert rules with
// their promtool unit tests (prometheus/), and the Grafana dashboard with
// its provisioning files (grafana/). See README.md in this directory.
//
// The package's tests keep those files honest: promtool checks and unit
// tests pass, the dashboard is well formed, and every series a rule or a
// panel reads is either a recording rule defined here or a series the
// server really exposes on /metrics.
package deploy
