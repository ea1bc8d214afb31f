package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/hotline-dev/hotline/config"
)

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: hotline check-config FILE")
		return 2
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	// Prompt overrides are checked the way serve loads them, so a file
	// that passes here starts.
	if _, err := loadPrompts(cfg, nil); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}

func printConfigError(w io.Writer, err error) {
	var probs config.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(w, p.String())
		}
		return
	}
	fmt.Fprintln(w, err)
}
