package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hotline-dev/hotline/calllog"
	"github.com/hotline-dev/hotline/config"
)

func calls(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("calls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	last := fs.Int("last", 20, "number of most recent calls to list")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	cfgPath := fs.String("config", "", "config file (for the database and timezone)")
	dbPath := fs.String("db", "", "SQLite database (overrides the config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *last < 1 {
		fmt.Fprintln(stderr, "hotline calls: --last must be at least 1")
		return 2
	}
	cfg, err := loadConfigForDB(*cfgPath, *dbPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := calllog.OpenReadOnly(ctx, calllog.Options{Driver: cfg.Database.Driver, Path: cfg.Database.Path})
	if err != nil {
		fmt.Fprintf(stderr, "hotline calls: %v\n", err)
		return 1
	}
	defer store.Close()
	recs, err := store.Recent(ctx, *last)
	if err != nil {
		fmt.Fprintf(stderr, "hotline calls: %v\n", err)
		return 1
	}
	if *asJSON {
		err = calllog.WriteJSON(stdout, recs)
	} else {
		err = calllog.WriteTable(stdout, recs, cfg.Location)
	}
	if err != nil {
		fmt.Fprintf(stderr, "hotline calls: %v\n", err)
		return 1
	}
	return 0
}

// loadConfigForDB loads the config of a command that reads the call log;
// --db, when given, overrides database.path.
func loadConfigForDB(cfgPath, dbPath string) (*config.Config, error) {
	cfg, err := loadConfig(cfgPath)
	if err == nil && dbPath != "" {
		cfg.Database.Path = dbPath
	}
	return cfg, err
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}
