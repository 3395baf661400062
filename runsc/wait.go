package main

import (
	"encoding/json"
	"os"

	"github.com/veil-sandbox/veil/runsc/control"
)

func init() {
	register(&command{name: "wait", summary: "wait for a container's process to exit and print its exit status", run: cmdWait})
}

func cmdWait(g *globalFlags, args []string) int {
	c, code := g.containerCommand(flagSet("wait"), args, "ID", 0)
	if c == nil {
		return code
	}
	ws, err := c.Wait()
	if err != nil {
		return g.fail("wait: %v", err)
	}
	out := struct {
		ID         string `json:"id"`
		ExitStatus int    `json:"exitStatus"`
	}{c.ID, control.ExitCode(ws)}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return g.fail("wait: %v", err)
	}
	return 0
}
