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
	fs := flagSet("wait")
	if ok, code := g.parseFlags(fs, args, "ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("wait: %v", err)
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
