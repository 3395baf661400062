package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/veil-sandbox/veil/runsc/cgroup"
	"github.com/veil-sandbox/veil/runsc/container"
)

func init() {
	register(&command{name: "events", summary: "print a container's resource usage (--stats once, or every --interval)", run: cmdEvents})
}

// event is one line of runc's `events` output.
type event struct {
	Type string        `json:"type"`
	ID   string        `json:"id"`
	Data *cgroup.Stats `json:"data,omitempty"`
}

func cmdEvents(g *globalFlags, args []string) int {
	fs := flagSet("events")
	var stats bool
	var interval time.Duration
	fs.BoolVar(&stats, "stats", false, "print the usage once and exit")
	fs.DurationVar(&interval, "interval", 5*time.Second, "time between two samples")
	if ok, code := g.parseFlags(fs, args, "[--stats] [--interval D] ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	if interval <= 0 {
		return g.fail("events: --interval must be positive")
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("events: %v", err)
	}
	enc := json.NewEncoder(os.Stdout)
	for {
		if c.Status() == container.Stopped {
			return g.fail("events: container %q is not running", c.ID)
		}
		st, err := c.Stats()
		if err != nil {
			return g.fail("events: %v", err)
		}
		if err := enc.Encode(event{Type: "stats", ID: c.ID, Data: st}); err != nil {
			return g.fail("events: %v", err)
		}
		if stats {
			return 0
		}
		time.Sleep(interval)
	}
}
