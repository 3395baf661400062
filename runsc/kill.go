package main

import (
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{name: "kill", summary: "send a signal to a container's process (default SIGTERM)", run: cmdKill})
}

func cmdKill(g *globalFlags, args []string) int {
	fs := flagSet("kill")
	var all bool
	fs.BoolVar(&all, "all", false, "send the signal to every process of the container")
	fs.BoolVar(&all, "a", false, "short for --all")
	if ok, code := g.parseFlags(fs, args, "[--all] ID [SIGNAL]"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 2, "a container id and an optional signal"); !ok {
		return code
	}
	sig := unix.SIGTERM
	if fs.NArg() == 2 {
		var err error
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return g.fail("kill: %v", err)
		}
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("kill: %v", err)
	}
	if err := c.Signal(sig, all); err != nil {
		return g.fail("kill: %v", err)
	}
	return 0
}
