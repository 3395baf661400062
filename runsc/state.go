package main

import (
	"encoding/json"
	"os"
)

func init() {
	register(&command{name: "state", summary: "print a container's state (OCI state JSON)", run: cmdState})
}

func cmdState(g *globalFlags, args []string) int {
	c, code := g.containerCommand(flagSet("state"), args, "ID", 0)
	if c == nil {
		return code
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c.OCI()); err != nil {
		return g.fail("state: %v", err)
	}
	return 0
}
