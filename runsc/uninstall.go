package main

import (
	"fmt"

	"github.com/veil-sandbox/veil/runsc/dockerconfig"
)

func init() {
	register(&command{name: "uninstall", summary: "remove runsc from docker's daemon.json", run: cmdUninstall, unprivileged: true})
}

// cmdUninstall removes the runtime runsc install added, and nothing else.
func cmdUninstall(g *globalFlags, args []string) int {
	fs := flagSet("uninstall")
	config := fs.String("config", dockerconfig.DefaultPath, "docker's daemon.json to change")
	runtime := fs.String("runtime", "runsc", "the runtime's name")
	if ok, code := g.parseFlags(fs, args, "[--config FILE] [--runtime NAME]"); !ok {
		return code
	}
	if ok, code := g.needArgs(fs, 0, 0, "no arguments"); !ok {
		return code
	}
	removed, wasDefault, err := dockerconfig.RemoveRuntime(*config, *runtime)
	if err != nil {
		return g.fail("uninstall: %v", err)
	}
	if !removed {
		fmt.Printf("runtime %q is not in %s: nothing to remove\n", *runtime, *config)
		return 0
	}
	fmt.Printf("removed runtime %q from %s\n", *runtime, *config)
	if wasDefault {
		fmt.Printf("it was docker's default-runtime: removed that too (docker's default is runc again)\n")
	}
	fmt.Printf("restart dockerd (systemctl restart docker) for it to take effect\n")
	return 0
}
