package main

func init() {
	register(&command{name: "start", summary: "run the process of a created container", run: cmdStart})
}

func cmdStart(g *globalFlags, args []string) int {
	fs := flagSet("start")
	if ok, code := g.parseFlags(fs, args, "ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("start: %v", err)
	}
	return g.result(c.Start())
}
