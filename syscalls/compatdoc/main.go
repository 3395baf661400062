// Command compatdoc writes the system call compatibility table,
// docs/compatibility.md, from the Sentry's syscall table.
package main

import (
	"fmt"
	"os"

	"github.com/veil-sandbox/veil/syscalls"
)

func main() {
	out := "docs/compatibility.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, []byte(syscalls.CompatibilityTable()), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "compatdoc: %v\n", err)
		os.Exit(1)
	}
}
