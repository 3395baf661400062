package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/veil-sandbox/veil/runsc/container"
)

func init() {
	register(&command{name: "list", summary: "list containers", run: cmdList})
}

// listEntry is one container as runc's `list --format json` shows it.
type listEntry struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	PID         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

func cmdList(g *globalFlags, args []string) int {
	fs := flagSet("list")
	var format string
	var quiet bool
	fs.StringVar(&format, "format", "table", "output format: table or json")
	fs.StringVar(&format, "f", "table", "short for --format")
	fs.BoolVar(&quiet, "quiet", false, "print only the ids")
	fs.BoolVar(&quiet, "q", false, "short for --quiet")
	if ok, code := g.parseFlags(fs, args, "[--format table|json] [-q]"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 0, 0, "no arguments"); !ok {
		return code
	}
	cs, err := container.List(g.root)
	if err != nil {
		return g.fail("list: %v", err)
	}
	if quiet {
		for _, c := range cs {
			fmt.Println(c.ID)
		}
		return 0
	}
	switch format {
	case "json":
		out := []listEntry{}
		for _, c := range cs {
			st := c.OCI()
			out = append(out, listEntry{
				OCIVersion: st.Version, ID: c.ID, PID: st.Pid, Status: string(st.Status),
				Bundle: c.Bundle, Rootfs: c.Rootfs, Created: c.Created, Annotations: st.Annotations, Owner: c.Owner,
			})
		}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			return g.fail("list: %v", err)
		}
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, c := range cs {
			st := c.OCI()
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", c.ID, st.Pid, st.Status, c.Bundle, c.Created.Format(time.RFC3339Nano), c.Owner)
		}
		w.Flush()
	default:
		return g.fail("list: unknown format %q (want table or json)", format)
	}
	return 0
}
