package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{
		"9": unix.SIGKILL, "KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "term": unix.SIGTERM,
		"SIGUSR1": unix.SIGUSR1, "HUP": unix.SIGHUP, "RTMIN": 34, "SIGRTMIN+2": 36, "RTMAX-1": 63, "64": 64,
	} {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"FOO", "0", "65", "-1", "SIGRTMIN+40", ""} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q) accepted", in)
		}
	}
}
