package syscalls

import (
	"fmt"
	"sort"
	"strings"

	"github.com/veil-sandbox/veil/syscalls/sysno"
)

// CompatibilityTable renders the syscall table as the Markdown page
// docs/compatibility.md: every amd64 system call Linux has, with its
// support level and what is missing. `go run ./syscalls/compatdoc` writes
// it; a test fails when the committed page and the table disagree.
func CompatibilityTable() string {
	type row struct {
		nr   uint64
		name string
		s    Support
		note string
	}
	var rows []row
	counts := map[Support]int{}
	for nr := uint64(0); nr < MaxSyscall; nr++ {
		name, known := sysno.Name(nr)
		e := Table[nr]
		if e.Fn == nil && !known {
			continue
		}
		r := row{nr: nr, name: name, s: e.Support, note: e.Note}
		if e.Fn != nil {
			r.name = e.Name
		} else {
			r.note = "ENOSYS"
		}
		counts[r.s]++
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].nr < rows[j].nr })
	var b strings.Builder
	b.WriteString("# System call compatibility (amd64)\n\n")
	b.WriteString("Generated from the Sentry's syscall table (`syscalls/table.go` and the `register` calls of each family) by `go run ./syscalls/compatdoc`; `go test ./syscalls/` fails when this page is stale. ")
	b.WriteString("*full*: as Linux does it; *partial*: implemented except what the note says; *unsupported*: the call fails with the errno given (ENOSYS where Linux would have the call), and `runsc --debug` counts each use.\n\n")
	fmt.Fprintf(&b, "%d full, %d partial, %d unsupported.\n\n", counts[Full], counts[Partial], counts[Unsupported])
	b.WriteString("| # | system call | support | notes |\n|---:|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", r.nr, r.name, r.s, strings.ReplaceAll(r.note, "|", "\\|"))
	}
	return b.String()
}

func (s Support) String() string {
	switch s {
	case Full:
		return "full"
	case Partial:
		return "partial"
	}
	return "unsupported"
}
