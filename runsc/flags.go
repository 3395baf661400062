package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/veil-sandbox/veil/runsc/sandbox"
	"golang.org/x/sys/unix"
)

// flagSetter is what commands register their flags on.
type flagSetter interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	IntVar(p *int, name string, value int, usage string)
}

// startFailure reports a failure to create or start a container. A
// program that cannot be found or executed gives runc's and the shell's
// exit codes (127, 126), which engines turn into their own.
func (g *globalFlags) startFailure(cmd string, err error) int {
	g.fail("%s: %v", cmd, err)
	var se *sandbox.StartError
	if errors.As(err, &se) && se.Code > 1 {
		return se.Code
	}
	return 1
}

// parseSignal reads a signal as a number or a name, with or without SIG
// (runc's kill syntax).
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMIN+"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && 34+n <= 64 {
			return unix.Signal(34 + n), nil
		}
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMAX-"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && 64-n >= 34 {
			return unix.Signal(64 - n), nil
		}
	}
	switch name {
	case "SIGRTMIN":
		return 34, nil
	case "SIGRTMAX":
		return 64, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// networkOr is the --network mode, or the command's default def.
func (g *globalFlags) networkOr(def string) string {
	if g.network == "" {
		return def
	}
	return g.network
}
