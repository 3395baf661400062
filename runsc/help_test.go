package main

import "testing"

func TestAsksHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--help"}, true},
		{[]string{"-h"}, true},
		{[]string{"--detach", "--help"}, true},
		{[]string{"ls", "--help"}, false},       // the program's flag
		{[]string{"--", "ls", "--help"}, false}, // likewise
		{[]string{"--bundle", "x"}, false},
		{nil, false},
	} {
		if got := asksHelp(tc.args); got != tc.want {
			t.Errorf("asksHelp(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
