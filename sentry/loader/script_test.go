package loader

import (
	"strings"
	"testing"
)

func TestParseInterpreterLine(t *testing.T) {
	long := "#!/" + strings.Repeat("x", 300) + "\n"
	longArg := "#!/bin/sh " + strings.Repeat("a", 300)
	for _, c := range []struct {
		in, interp, arg string
		hasArg, bad     bool
	}{
		{in: "#!/bin/sh\n", interp: "/bin/sh"},
		{in: "#!/bin/sh", interp: "/bin/sh"},
		{in: "#! /bin/sh -x\necho", interp: "/bin/sh", arg: "-x", hasArg: true},
		{in: "#!/usr/bin/env python3 -u -v \n", interp: "/usr/bin/env", arg: "python3 -u -v", hasArg: true},
		{in: "#!\t/bin/sh\t\t\n", interp: "/bin/sh"},
		{in: "#!/bin/sh   ", interp: "/bin/sh", arg: "", hasArg: true}, // Linux's quirk: the NUL after the spaces
		{in: "#!/bin/sh\x00junk\n", interp: "/bin/sh"},
		{in: "#!\n", bad: true},
		{in: "#!   \n", bad: true},
		{in: "#", bad: true},
		{in: "\x7fELF", bad: true},
		{in: long, bad: true}, // the name does not fit: cut off
		{in: longArg, interp: "/bin/sh", arg: strings.Repeat("a", 255-10), hasArg: true},
	} {
		interp, arg, hasArg, err := ParseInterpreterLine([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%q: got %q %q, want an error", c.in, interp, arg)
			}
			continue
		}
		if err != nil || interp != c.interp || arg != c.arg || hasArg != c.hasArg {
			t.Errorf("%q: got %q %q %v %v, want %q %q %v", c.in, interp, arg, hasArg, err, c.interp, c.arg, c.hasArg)
		}
	}
}
