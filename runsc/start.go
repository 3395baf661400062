package main

func init() {
	register(&command{name: "start", summary: "run the process of a created container", run: cmdStart})
}

func cmdStart(g *globalFlags, args []string) int {
	c, code := g.containerCommand(flagSet("start"), args, "ID", 0)
	if c == nil {
		return code
	}
	return g.result(c.Start())
}
