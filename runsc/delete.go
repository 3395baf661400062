package main

func init() {
	register(&command{name: "delete", summary: "delete a stopped container (--force: kill it first)", run: cmdDelete})
}

func cmdDelete(g *globalFlags, args []string) int {
	fs := flagSet("delete")
	var force bool
	fs.BoolVar(&force, "force", false, "kill the container if it still runs")
	fs.BoolVar(&force, "f", false, "short for --force")
	if ok, code := g.parseFlags(fs, args, "[--force] ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("delete: %v", err)
	}
	return g.result(c.Delete(force))
}
