package main

import (
	"encoding/json"
	"os"
)

func init() {
	register(&command{name: "state", summary: "print a container's state (OCI state JSON)", run: cmdState})
}

func cmdState(g *globalFlags, args []string) int {
	fs := flagSet("state")
	if ok, code := g.parseFlags(fs, args, "ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("state: %v", err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c.OCI()); err != nil {
		return g.fail("state: %v", err)
	}
	return 0
}
