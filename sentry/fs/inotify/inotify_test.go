package inotify

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

type env struct {
	t   *testing.T
	ctx *vfstest.Context
	v   *vfs.VirtualFilesystem
	fs  *vfs.FSContext
	in  *Instance
}

func newEnv(t *testing.T) *env {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.Root()
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{Mode: 0o755}).Root(), vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	in, err := New(v, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Release)
	return &env{t: t, ctx: ctx, v: v, fs: vfs.NewFSContext(v.Root(), v.Root(), 0), in: in}
}

func (e *env) pop(p string) vfs.PathOperation { return e.fs.PathOp(vfs.VirtualDentry{}, p, true) }

func (e *env) watch(p string, mask uint32) int32 {
	e.t.Helper()
	vd, err := e.v.GetDentry(e.ctx, e.pop(p))
	if err != nil {
		e.t.Fatal(err)
	}
	defer vd.DecRef()
	wd, err := e.in.AddWatch(vd, mask)
	if err != nil {
		e.t.Fatal(err)
	}
	return wd
}

// events reads everything queued as "wd:MASK:name" strings.
func (e *env) events() string {
	e.t.Helper()
	buf := make([]byte, 1<<16)
	n, err := e.in.Read(e.ctx, buf, -1, true)
	if err == unix.EAGAIN {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for b := buf[:n]; len(b) > 0; {
		wd := int32(binary.LittleEndian.Uint32(b))
		mask := binary.LittleEndian.Uint32(b[4:])
		l := binary.LittleEndian.Uint32(b[12:])
		name := strings.TrimRight(string(b[16:16+l]), "\x00")
		out = append(out, fmt.Sprintf("%d:%#x:%s", wd, mask, name))
		b = b[16+l:]
	}
	return strings.Join(out, " ")
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	if err := e.v.Mkdir(e.ctx, e.pop("/d"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd := e.watch("/d", unix.IN_ALL_EVENTS)
	f, err := e.v.Open(e.ctx, e.pop("/d/f"), unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(e.ctx, []byte("a"))
	f.Write(e.ctx, []byte("b"))
	f.DecRef()
	want := fmt.Sprintf("%d:%#x:f %d:%#x:f %d:%#x:f %d:%#x:f", wd, unix.IN_CREATE, wd, unix.IN_OPEN, wd, unix.IN_MODIFY, wd, unix.IN_CLOSE_WRITE)
	if got := e.events(); got != want {
		t.Errorf("events %q, want %q (two writes merge)", got, want)
	}
	fw := e.watch("/d/f", unix.IN_ATTRIB|unix.IN_DELETE_SELF)
	if err := e.v.Unlink(e.ctx, e.pop("/d/f")); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("%d:%#x: %d:%#x: %d:%#x: %d:%#x:f", fw, unix.IN_ATTRIB, fw, unix.IN_DELETE_SELF, fw, unix.IN_IGNORED, wd, unix.IN_DELETE)
	if got := e.events(); got != want {
		t.Errorf("unlink: %q, want %q", got, want)
	}
	if err := e.in.RemoveWatch(fw); err != unix.EINVAL {
		t.Errorf("removing a watch of a deleted file: %v, want EINVAL", err)
	}
	if err := e.in.RemoveWatch(wd); err != nil {
		t.Fatal(err)
	}
	if got, want := e.events(), fmt.Sprintf("%d:%#x:", wd, unix.IN_IGNORED); got != want {
		t.Errorf("rm_watch: %q, want %q", got, want)
	}
}

func TestOneshotMaskAddAndCreate(t *testing.T) {
	e := newEnv(t)
	f, _ := e.v.Open(e.ctx, e.pop("/f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	defer f.DecRef()
	wd := e.watch("/f", unix.IN_MODIFY|unix.IN_ONESHOT)
	f.Write(e.ctx, []byte("a"))
	f.Write(e.ctx, []byte("b"))
	if got, want := e.events(), fmt.Sprintf("%d:%#x: %d:%#x:", wd, unix.IN_MODIFY, wd, unix.IN_IGNORED); got != want {
		t.Errorf("oneshot: %q, want %q", got, want)
	}
	wd2 := e.watch("/f", unix.IN_MODIFY)
	if wd2 == wd {
		t.Errorf("a new watch reused wd %d", wd)
	}
	vd, _ := e.v.GetDentry(e.ctx, e.pop("/f"))
	defer vd.DecRef()
	if w, err := e.in.AddWatch(vd, unix.IN_ATTRIB|unix.IN_MASK_ADD); err != nil || w != wd2 {
		t.Errorf("IN_MASK_ADD: %d %v", w, err)
	}
	if _, err := e.in.AddWatch(vd, unix.IN_ATTRIB|inMaskCreate); err != unix.EEXIST {
		t.Errorf("IN_MASK_CREATE on a watched inode: %v", err)
	}
	f.Write(e.ctx, []byte("c"))
	f.SetStat(e.ctx, vfs.SetStat{Valid: vfs.AttrMode, Mode: 0o600})
	if got, want := e.events(), fmt.Sprintf("%d:%#x: %d:%#x:", wd2, unix.IN_MODIFY, wd2, unix.IN_ATTRIB); got != want {
		t.Errorf("mask add: %q, want %q", got, want)
	}
}

func TestOverflowAndShortRead(t *testing.T) {
	e := newEnv(t)
	f, _ := e.v.Open(e.ctx, e.pop("/f"), unix.O_CREAT|unix.O_RDWR, 0o644)
	defer f.DecRef()
	e.watch("/", unix.IN_MODIFY|unix.IN_ACCESS)
	buf := make([]byte, 1)
	for i := 0; i < MaxQueuedEvents+10; i++ {
		if i%2 == 0 {
			f.PWrite(e.ctx, buf, 0)
		} else {
			f.PRead(e.ctx, buf, 0)
		}
	}
	e.in.mu.Lock()
	n, last := len(e.in.events), e.in.events[len(e.in.events)-1]
	e.in.mu.Unlock()
	if n != MaxQueuedEvents+1 || last.mask != unix.IN_Q_OVERFLOW || last.wd != -1 {
		t.Errorf("%d events, last %+v; want %d and an overflow", n, last, MaxQueuedEvents+1)
	}
	if _, err := e.in.Read(e.ctx, make([]byte, 20), -1, true); err != unix.EINVAL {
		t.Errorf("a read too small for the first event: %v, want EINVAL", err)
	}
}
