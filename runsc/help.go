package main

import (
	"os"
)

func init() {
	register(&command{name: "help", summary: "show the commands, or a command's flags (help COMMAND)", run: cmdHelp, unprivileged: true})
}

// cmdHelp prints the usage of runsc or of one command (as COMMAND --help).
func cmdHelp(g *globalFlags, args []string) int {
	switch len(args) {
	case 0:
		usage(globalFlagSet(&globalFlags{}), os.Stdout)
		return 0
	case 1:
		cmd, ok := commands[args[0]]
		if !ok || cmd.internal {
			return g.fail("help: unknown command %q (see runsc --help)", args[0])
		}
		if cmd.name == "help" {
			usage(globalFlagSet(&globalFlags{}), os.Stdout)
			return 0
		}
		return cmd.run(g, []string{"--help"})
	}
	return g.fail("help: expected at most one command, got %d arguments (see runsc --help)", len(args))
}
