package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The docs' runnable commands (docs/README.md of this repository, "How the
// docs are tested", describes the markers):
//
//	```sh {test}     run by TestDocs, in order, in one scratch directory per file
//	```text {output} right after a test block: that block's exact stdout
//	```sh {setup}    the README's set-up: run from the repository root, with
//	                 apt-get replaced by a check that the packages are installed
//
// Other fenced blocks are snippets to apply, or need engines and a host
// configuration the engine tests check instead.
type docBlock struct {
	file, kind, text, output string
	line                     int
	hasOutput                bool
}

var fenceRE = regexp.MustCompile("(?m)^( *)```([a-z]*)( \\{([a-z]+)\\})?[ \t]*$")

// docBlocks extracts the marked blocks of one Markdown file.
func docBlocks(t *testing.T, path string) []*docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var blocks []*docBlock
	var last *docBlock
	for pos := 0; ; {
		m := fenceRE.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		start := pos + m[1] + 1
		indent := text[pos+m[2] : pos+m[3]]
		lang, mark := text[pos+m[4]:pos+m[5]], ""
		if m[8] >= 0 {
			mark = text[pos+m[8] : pos+m[9]]
		}
		end := strings.Index(text[start:], "\n"+indent+"```")
		if end < 0 {
			t.Fatalf("%s: unterminated fenced block at byte %d", path, pos+m[0])
		}
		body := text[start : start+end+1]
		if indent != "" {
			body = regexp.MustCompile("(?m)^"+indent).ReplaceAllString(body, "")
		}
		line := strings.Count(text[:pos+m[0]], "\n") + 1
		pos = start + end + 1 + len(indent) + 3
		switch {
		case mark == "output":
			if last == nil || last.hasOutput {
				t.Fatalf("%s:%d: an {output} block must follow a {test} block", path, line)
			}
			last.output, last.hasOutput = body, true
			continue
		case mark == "test" || mark == "setup":
			if lang != "sh" {
				t.Fatalf("%s:%d: {%s} blocks are ```sh", path, line, mark)
			}
			b := &docBlock{file: path, kind: mark, text: body, line: line}
			blocks = append(blocks, b)
			last = b
			continue
		case mark != "":
			t.Fatalf("%s:%d: unknown marker {%s}", path, line, mark)
		}
		last = nil
	}
	return blocks
}

// aptCheck stands in for apt-get in {setup} blocks: it checks that the
// packages are installed instead of installing them (no network here).
const aptCheck = `apt-get() {
	[ "$1" = update ] && return 0
	[ "$1" = install ] || { echo "apt-get $1: not checked by the docs test" >&2; return 1; }
	shift
	for p; do case $p in -*) ;; *) dpkg -s "$p" >/dev/null 2>&1 || { echo "package $p is not installed" >&2; return 1; } ;; esac; done
}
`

// TestDocs runs every marked command of the README and docs/.
func TestDocs(t *testing.T) {
	needRunsc(t)
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append([]string{filepath.Join(repoRoot, "README.md")}, files...)
	// `runsc` in the docs is the runsc under test, as is `bin/runsc`
	// (relative to the repository root) outside of {setup}.
	pathDir := filepath.Join(workDir, "docs-path")
	os.MkdirAll(pathDir, 0o755)
	os.Symlink(runscPath, filepath.Join(pathDir, "runsc"))
	total := 0
	for _, f := range files {
		blocks := docBlocks(t, f)
		total += len(blocks)
		name, _ := filepath.Rel(repoRoot, f)
		if len(blocks) == 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(workDir, "docs-"+strings.TrimSuffix(filepath.Base(f), ".md")+"-"+nonce(t))
			os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
			os.Symlink(runscPath, filepath.Join(dir, "bin", "runsc"))
			for _, b := range blocks {
				o := opts{dir: dir, timeout: 2 * time.Minute, env: []string{"PATH=" + pathDir + ":" + os.Getenv("PATH")}}
				script := b.text
				if b.kind == "setup" {
					o.dir, o.timeout, script = repoRoot, 10*time.Minute, aptCheck+script
					o.env = nil
				}
				r := run(o, "bash", "-e", "-o", "pipefail", "-c", script)
				where := name + ":" + strconv.Itoa(b.line)
				checkNoCrash(t, r)
				if r.code != 0 {
					t.Errorf("%s: the block failed%s", where, r)
					continue
				}
				if b.hasOutput && r.stdout != b.output {
					t.Errorf("%s: stdout is not the documented output; %s%s", where, firstDiff(b.output, r.stdout), r)
				}
			}
		})
	}
	if total < 10 {
		t.Errorf("only %d runnable blocks in the docs: the markers are not being found", total)
	}
}

// TestDocBlocksParse checks the extractor on a sample: markers found in
// and out of list items, outputs attached, unmarked blocks skipped.
func TestDocBlocksParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sample.md")
	os.WriteFile(path, []byte("# x\n\n```sh\nnot run\n```\n\n```sh {test}\necho a\n```\n\n```text {output}\na\n```\n\n- item\n\n  ```sh {test}\n  echo b\n    echo c\n  ```\n\n```sh {setup}\nmake\n```\n"), 0o644)
	blocks := docBlocks(t, path)
	if len(blocks) != 3 {
		t.Fatalf("got %d blocks, want 3", len(blocks))
	}
	want := []docBlock{
		{kind: "test", text: "echo a\n", output: "a\n", hasOutput: true, line: 7},
		{kind: "test", text: "echo b\n  echo c\n", line: 17},
		{kind: "setup", text: "make\n", line: 22},
	}
	for i, b := range blocks {
		w := want[i]
		if b.kind != w.kind || b.text != w.text || b.output != w.output || b.hasOutput != w.hasOutput || b.line != w.line {
			t.Errorf("block %d: got %+v, want %+v", i, *b, w)
		}
	}
}

// TestDocLinks: every relative link of the README and docs/ names a file
// of the repository (the README once linked to a design file outside it).
func TestDocLinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot, "README.md"))
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path := filepath.Join(filepath.Dir(f), target)
			rel, err := filepath.Rel(repoRoot, path)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links outside the repository: %s", f, target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links to a missing file: %s", f, target)
			}
		}
	}
}
