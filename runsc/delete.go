package main

func init() {
	register(&command{name: "delete", summary: "delete a stopped container (--force: kill it first)", run: cmdDelete})
}

func cmdDelete(g *globalFlags, args []string) int {
	fs := flagSet("delete")
	var force bool
	fs.BoolVar(&force, "force", false, "kill the container if it still runs")
	fs.BoolVar(&force, "f", false, "short for --force")
	c, code := g.containerCommand(fs, args, "[--force] ID", 0)
	if c == nil {
		return code
	}
	return g.result(c.Delete(force))
}
