package main

import (
	"encoding/json"
	"io"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/veil-sandbox/veil/runsc/cgroup"
)

func init() {
	register(&command{name: "update", summary: "change a container's resource limits (--resources FILE, or - for stdin)", run: cmdUpdate})
}

func cmdUpdate(g *globalFlags, args []string) int {
	fs := flagSet("update")
	resources := fs.String("resources", "", "JSON file of linux.resources (\"-\": stdin)")
	fs.StringVar(resources, "r", "", "short for --resources")
	if ok, code := g.parseFlags(fs, args, "--resources FILE ID"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 1, 1, "a container id"); !ok {
		return code
	}
	if *resources == "" {
		return g.fail("update: --resources is required (the per-resource flags of runc are not supported)")
	}
	var in io.Reader = os.Stdin
	if *resources != "-" {
		f, err := os.Open(*resources)
		if err != nil {
			return g.fail("update: %v", err)
		}
		defer f.Close()
		in = f
	}
	var r specs.LinuxResources
	if err := json.NewDecoder(in).Decode(&r); err != nil {
		return g.fail("update: resources: %v", err)
	}
	c, err := g.load(fs.Arg(0))
	if err != nil {
		return g.fail("update: %v", err)
	}
	if c.Cgroup == "" {
		return g.fail("update: container %q has no cgroup", c.ID)
	}
	cg, err := cgroup.Load(c.Cgroup)
	if err != nil {
		return g.fail("update: %v", err)
	}
	if err := cg.Update(&r); err != nil {
		return g.fail("update: %v", err)
	}
	return 0
}
