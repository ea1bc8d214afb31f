// Command hotline is the hotline IVR and call-handling server.
//
//	hotline serve [--config FILE] [--sip ADDR] [--http ADDR] [--db PATH]
//	hotline check-config FILE
//	hotline calls [--last N] [--json] [--config FILE] [--db PATH]
//	hotline agents [--json] [--config FILE] [--http ADDR]
//	hotline version
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "calls":
		return calls(args[1:], stdout, stderr)
	case "agents":
		return agentsCmd(args[1:], stdout, stderr)
	case "report":
		return report(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "hotline %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "hotline: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  hotline serve [--config FILE] [--sip ADDR] [--http ADDR] [--db PATH]
      run the server (embedded defaults when no config file is given)
  hotline check-config FILE
      report every problem in a config file as file:line: key: message
  hotline calls [--last N] [--json] [--config FILE] [--db PATH]
      list recent call records
  hotline report [--from T] [--to T] [--queue Q] [--json] [--config FILE] [--db PATH]
      call-centre KPIs of the calls that arrived in [from, to), exactly from the records
  hotline agents [--json] [--config FILE] [--http ADDR]
      list the running server's agents with state and time in state
  hotline version
`)
}
