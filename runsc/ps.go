package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

func init() {
	register(&command{name: "ps", summary: "list the processes of a container", run: cmdPs})
}

// cmdPs lists the sandbox's processes. The pids are the sandbox's own
// (its processes have no host pids of their own); --format json prints
// them as runc does, a JSON array of pids.
func cmdPs(g *globalFlags, args []string) int {
	fs := flagSet("ps")
	var format string
	fs.StringVar(&format, "format", "table", "output format: table or json")
	fs.StringVar(&format, "f", "table", "short for --format")
	c, code := g.containerCommand(fs, args, "[--format table|json] ID", -1)
	if c == nil {
		return code
	}
	procs, err := c.Processes()
	if err != nil {
		return g.fail("ps: %v", err)
	}
	switch format {
	case "json":
		pids := []int32{}
		for _, p := range procs {
			pids = append(pids, p.PID)
		}
		if err := json.NewEncoder(os.Stdout).Encode(pids); err != nil {
			return g.fail("ps: %v", err)
		}
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 4, 1, 2, ' ', 0)
		fmt.Fprint(w, "UID\tPID\tPPID\tSTIME\tTHREADS\tSTAT\tCMD\n")
		for _, p := range procs {
			stat := "R"
			if p.Stopped {
				stat = "T"
			}
			fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%d\t%s\t%s\n", p.UID, p.PID, p.PPID,
				time.Unix(p.Start, 0).Format("15:04:05"), p.Threads, stat, p.Comm)
		}
		w.Flush()
	default:
		return g.fail("ps: unknown format %q (want table or json)", format)
	}
	return 0
}
