package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hotline-dev/hotline/calllog"
)

// reportTimeLayouts are the forms --from and --to accept, in the config's
// timezone: a day (its midnight) or a day and a time to the minute.
var reportTimeLayouts = []string{"2006-01-02", "2006-01-02T15:04"}

// report prints the supervisor's report: the KPIs of the recording rules
// computed exactly from the call records of the calls that arrived in
// [--from, --to).
func report(args []string, stdout, stderr io.Writer) int {
	return reportAt(time.Now(), args, stdout, stderr)
}

// reportAt is report with the current time given, so the default range
// (today from midnight to now) can be tested.
func reportAt(now time.Time, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromFlag := fs.String("from", "", "start of the range, included: 2006-01-02 or 2006-01-02T15:04 (default: today 00:00)")
	toFlag := fs.String("to", "", "end of the range, excluded: 2006-01-02 or 2006-01-02T15:04 (default: now)")
	queue := fs.String("queue", "", "report only the calls of this queue")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	cfgPath := fs.String("config", "", "config file (for the database, timezone and ring cadence)")
	dbPath := fs.String("db", "", "SQLite database (overrides the config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hotline report: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := loadConfigForDB(*cfgPath, *dbPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.Local
	}
	now = now.In(loc)
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	to := now
	if *fromFlag != "" {
		if from, err = parseReportTime(*fromFlag, loc); err != nil {
			fmt.Fprintf(stderr, "hotline report: --from: %v\n", err)
			return 2
		}
	}
	if *toFlag != "" {
		if to, err = parseReportTime(*toFlag, loc); err != nil {
			fmt.Fprintf(stderr, "hotline report: --to: %v\n", err)
			return 2
		}
	}
	if !to.After(from) {
		fmt.Fprintf(stderr, "hotline report: --to (%s) must be after --from (%s)\n",
			to.Format(reportTimeLayouts[1]), from.Format(reportTimeLayouts[1]))
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := calllog.OpenReadOnly(ctx, calllog.Options{Driver: cfg.Database.Driver, Path: cfg.Database.Path})
	if err != nil {
		fmt.Fprintf(stderr, "hotline report: %v\n", err)
		return 1
	}
	defer store.Close()
	r, err := store.Report(ctx, from, to, *queue, cfg.Ring.Cycle())
	if err != nil {
		fmt.Fprintf(stderr, "hotline report: %v\n", err)
		return 1
	}
	if *asJSON {
		err = calllog.WriteReportJSON(stdout, r)
	} else {
		err = calllog.WriteReport(stdout, r)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hotline report: %v\n", err)
		return 1
	}
	return 0
}

// parseReportTime reads a --from or --to value as local time of loc.
func parseReportTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range reportTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither 2006-01-02 nor 2006-01-02T15:04", s)
}
