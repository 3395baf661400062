package loader

import (
	"bytes"
	"errors"
)

// Interpreter scripts (execve(2) "Interpreter scripts"): a file starting
// with "#!" names the program that runs it, with at most one argument:
//
//	#!interpreter [optional-arg]
//
// ParseInterpreterLine follows Linux's binfmt_script (fs/binfmt_script.c,
// Linux 5.1 and later) exactly, so edge cases give the same results.

// BinprmBufSize is how much of a file execve reads to recognise its format
// (Linux's BINPRM_BUF_SIZE): a "#!" line must fit in it.
const BinprmBufSize = 256

// ErrNotScript is ParseInterpreterLine's answer for a file that does not
// start with "#!", or whose "#!" line names no interpreter or is cut off
// by BinprmBufSize: execve reports it as ENOEXEC.
var ErrNotScript = errors.New("not an interpreter script")

// IsScript reports whether buf (a file's first bytes) starts with "#!".
func IsScript(buf []byte) bool { return len(buf) >= 2 && buf[0] == '#' && buf[1] == '!' }

// ParseInterpreterLine parses the "#!" line at the start of file (its
// first bytes; only BinprmBufSize of them count) into the interpreter path and its
// optional argument (hasArg false when there is none). The interpreter
// name ends at the first space, tab or NUL; the argument is the rest of
// the line with leading and trailing spaces and tabs removed (it may hold
// spaces: Linux does not split it).
func ParseInterpreterLine(file []byte) (interp, arg string, hasArg bool, err error) {
	// Linux reads the first BINPRM_BUF_SIZE bytes into a zeroed buffer.
	var buf [BinprmBufSize]byte
	copy(buf[:], file)
	if !IsScript(buf[:]) {
		return "", "", false, ErrNotScript
	}
	spacetab := func(c byte) bool { return c == ' ' || c == '\t' }
	// nextNonSpacetab and nextTerminator search [first, last], both
	// included, and return -1 for nothing, like Linux's helpers.
	nextNonSpacetab := func(first, last int) int {
		for i := first; i <= last; i++ {
			if !spacetab(buf[i]) {
				return i
			}
		}
		return -1
	}
	nextTerminator := func(first, last int) int {
		for i := first; i <= last; i++ {
			if spacetab(buf[i]) || buf[i] == 0 {
				return i
			}
		}
		return -1
	}
	bufEnd := BinprmBufSize - 1
	iEnd := bytes.IndexByte(buf[:], '\n')
	if iEnd < 0 {
		first := nextNonSpacetab(2, bufEnd)
		if first < 0 {
			return "", "", false, ErrNotScript // only spaces and tabs
		}
		// Without a later space, tab or NUL the interpreter path may
		// have been cut off: refuse rather than run a wrong program.
		if nextTerminator(first, bufEnd) < 0 {
			return "", "", false, ErrNotScript
		}
		iEnd = bufEnd
	}
	for spacetab(buf[iEnd-1]) {
		iEnd--
	}
	iName := nextNonSpacetab(2, iEnd)
	if iName < 0 || iName == iEnd {
		return "", "", false, ErrNotScript // no interpreter name
	}
	iSep := nextTerminator(iName, iEnd)
	iArg := -1
	if iSep >= 0 && buf[iSep] != 0 {
		iArg = nextNonSpacetab(iSep, iEnd)
	}
	// The kernel ends the line at iEnd and, with an argument, the name
	// at iSep; both strings also end at any NUL inside them.
	buf[iEnd] = 0
	if iArg >= 0 {
		buf[iSep] = 0
		arg, hasArg = cString(buf[iArg:]), true
	}
	return cString(buf[iName:]), arg, hasArg, nil
}

// cString is b up to its first NUL, as the kernel's C strings end there.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
