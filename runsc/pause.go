package main

func init() {
	register(&command{name: "pause", summary: "freeze every process of a container", run: cmdPause})
	register(&command{name: "resume", summary: "thaw a paused container", run: cmdResume})
}

func cmdPause(g *globalFlags, args []string) int  { return pauseResume(g, "pause", args) }
func cmdResume(g *globalFlags, args []string) int { return pauseResume(g, "resume", args) }

func pauseResume(g *globalFlags, name string, args []string) int {
	c, code := g.containerCommand(flagSet(name), args, "ID", 0)
	if c == nil {
		return code
	}
	var err error
	if name == "pause" {
		err = c.Pause()
	} else {
		err = c.Resume()
	}
	if err != nil {
		return g.fail("%s: %v", name, err)
	}
	return 0
}
