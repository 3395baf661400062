package devpts_test

import (
	"encoding/binary"
	"testing"

	"github.com/veil-sandbox/veil/sentry/fs/dev"
	"github.com/veil-sandbox/veil/sentry/fs/devpts"
	"github.com/veil-sandbox/veil/sentry/fs/tmpfs"
	"github.com/veil-sandbox/veil/sentry/memfile"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// TestPseudoTerminals goes through what glibc's posix_openpt, grantpt,
// unlockpt, ptsname and a program on the slave do, without tasks (so no
// job control): the slave's node, locking, I/O both ways through the line
// discipline, and the ends of either side.
func TestPseudoTerminals(t *testing.T) {
	mf, err := memfile.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := vfstest.User(1000, 1000)
	v := vfs.New(mf)
	if err := v.MountRoot(ctx, tmpfs.New(mf, tmpfs.Options{}).Root(), vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.MountWith(vfstest.Root(), v, devpts.Options{Mode: 0o620, PtmxMode: 0o666, GID: 5, SetGID: true}); err != nil {
		t.Fatal(err)
	}
	fsc := vfs.NewFSContext(v.Root(), v.Root(), 0o022)
	pop := func(p string) vfs.PathOperation { return fsc.PathOp(vfs.VirtualDentry{}, p, true) }
	mem := &vfstest.Memory{Base: 0x1000, Data: make([]byte, 64)}
	ioctl := func(f *vfs.FileDescription, cmd uint32, in uint32) (uint32, error) {
		binary.LittleEndian.PutUint32(mem.Data, in)
		_, err := f.Ioctl(ctx, mem, cmd, 0x1000)
		return binary.LittleEndian.Uint32(mem.Data), err
	}

	for _, p := range []string{"/dev/ptmx", "/dev/pts/ptmx"} {
		st, err := v.Stat(ctx, pop(p))
		if err != nil || st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(5, 2) {
			t.Errorf("stat %s: mode %o rdev %x, %v", p, st.Mode, st.Rdev, err)
		}
	}
	m, err := v.Open(ctx, pop("/dev/ptmx"), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ioctl(m, unix.TIOCGPTN, 0)
	if err != nil || n != 0 {
		t.Fatalf("TIOCGPTN %d, %v; want 0", n, err)
	}
	st, err := v.Stat(ctx, pop("/dev/pts/0"))
	if err != nil || st.Mode != unix.S_IFCHR|0o620 || st.UID != 1000 || st.GID != 5 || st.Rdev != unix.Mkdev(136, 0) || st.Ino != 3 {
		t.Errorf("stat /dev/pts/0: %+v, %v", st, err)
	}
	if _, err := v.Open(ctx, pop("/dev/pts/0"), unix.O_RDWR, 0); err != unix.EIO {
		t.Errorf("open of a locked slave: %v, want EIO", err)
	}
	if l, _ := ioctl(m, unix.TIOCGPTLCK, 0); l != 1 {
		t.Errorf("TIOCGPTLCK %d, want 1", l)
	}
	if _, err := ioctl(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	s, err := v.Open(ctx, pop("/dev/pts/0"), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A second pair takes the next number, and both are listed.
	m2, err := v.Open(ctx, pop("/dev/pts/ptmx"), unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ioctl(m2, unix.TIOCGPTN, 0); n != 1 {
		t.Errorf("second pty number %d, want 1", n)
	}
	names := func() []string {
		d, err := v.Open(ctx, pop("/dev/pts"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer d.DecRef()
		ents, _ := d.Inode().Getdents(ctx)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name)
		}
		return out
	}
	if got := names(); len(got) != 3 || got[0] != "0" || got[1] != "1" || got[2] != "ptmx" {
		t.Errorf("/dev/pts lists %q", got)
	}
	m2.DecRef()
	if _, err := v.Stat(ctx, pop("/dev/pts/1")); err != unix.ENOENT {
		t.Errorf("slave of a closed master: %v, want ENOENT", err)
	}

	// Typing a line: echoed to the master, readable by the slave.
	if _, err := m.Write(ctx, []byte("hi\r")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if k, err := s.Read(ctx, buf); err != nil || string(buf[:k]) != "hi\n" {
		t.Errorf("slave read %q, %v", buf[:k], err)
	}
	if k, err := m.Read(ctx, buf); err != nil || string(buf[:k]) != "hi\r\n" {
		t.Errorf("master read (echo) %q, %v", buf[:k], err)
	}
	if s.Readiness(waiter.EventIn) != 0 || m.Readiness(waiter.EventIn) != 0 {
		t.Error("readable with nothing to read")
	}
	if _, err := s.Write(ctx, []byte("out\n")); err != nil {
		t.Fatal(err)
	}
	if m.Readiness(waiter.EventIn) == 0 {
		t.Error("master not readable after a slave write")
	}
	if k, err := m.Read(ctx, buf); err != nil || string(buf[:k]) != "out\r\n" {
		t.Errorf("master read %q, %v", buf[:k], err)
	}
	// Settings through the master are the slave's.
	mem.Data = make([]byte, 64)
	if _, err := s.Ioctl(ctx, mem, unix.TCGETS, 0x1000); err != nil {
		t.Fatal(err)
	}
	tios := devpts.DecodeTermios(mem.Data)
	tios.Lflag &^= unix.ECHO
	copy(mem.Data, tios.Encode())
	if _, err := m.Ioctl(ctx, mem, unix.TCSETS, 0x1000); err != nil {
		t.Fatal(err)
	}
	m.Write(ctx, []byte("pw\n"))
	if m.Readiness(waiter.EventIn) != 0 {
		t.Error("echo with ECHO off")
	}
	if k, _ := s.Read(ctx, buf); string(buf[:k]) != "pw\n" {
		t.Errorf("slave read %q", buf[:k])
	}
	// Window size, set on the master, read on the slave.
	binary.LittleEndian.PutUint16(mem.Data[0:], 24)
	binary.LittleEndian.PutUint16(mem.Data[2:], 80)
	if _, err := m.Ioctl(ctx, mem, unix.TIOCSWINSZ, 0x1000); err != nil {
		t.Fatal(err)
	}
	mem.Data = make([]byte, 64)
	s.Ioctl(ctx, mem, unix.TIOCGWINSZ, 0x1000)
	if r, c := binary.LittleEndian.Uint16(mem.Data), binary.LittleEndian.Uint16(mem.Data[2:]); r != 24 || c != 80 {
		t.Errorf("window size %dx%d", r, c)
	}

	// Closing the last slave: the master reads what is left, then EIO.
	s.Write(ctx, []byte("bye"))
	s.DecRef()
	if m.Readiness(waiter.EventHUp)&waiter.EventHUp == 0 {
		t.Error("master does not poll POLLHUP without a slave")
	}
	if k, err := m.Read(ctx, buf); err != nil || string(buf[:k]) != "bye" {
		t.Errorf("master read after slave close %q, %v", buf[:k], err)
	}
	if _, err := m.Read(ctx, buf); err != unix.EIO {
		t.Errorf("master read without slaves: %v, want EIO", err)
	}
	// The slave can be opened again; closing the master hangs it up.
	s, err = v.Open(ctx, pop("/dev/pts/0"), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.DecRef()
	if k, err := s.Read(ctx, buf); k != 0 || err != nil {
		t.Errorf("hung-up slave read %d, %v; want end of file", k, err)
	}
	if _, err := s.Write(ctx, []byte("x")); err != unix.EIO {
		t.Errorf("hung-up slave write %v, want EIO", err)
	}
	if r := s.Readiness(waiter.EventIn); r&waiter.EventHUp == 0 {
		t.Errorf("hung-up slave readiness %#x", r)
	}
	if _, err := v.Stat(ctx, pop("/dev/pts/0")); err != unix.ENOENT {
		t.Errorf("stat of a slave whose master is closed: %v, want ENOENT", err)
	}
	s.DecRef()
}

// TestNonCanonicalRead: VMIN and VTIME (termios(3)).
func TestNonCanonicalRead(t *testing.T) {
	fs := devpts.New(devpts.HostDefaults)
	ctx := vfstest.Root()
	m, err := fs.NewMaster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.Unlock()
	ino, err := fs.Root().Lookup(ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ino.Open(ctx, unix.O_RDWR|unix.O_NOCTTY)
	if err != nil {
		t.Fatal(err)
	}
	tios := devpts.DefaultTermios()
	tios.Lflag &^= unix.ICANON | unix.ECHO
	tios.Cc[unix.VMIN], tios.Cc[unix.VTIME] = 0, 0
	m.SetTermios(tios)
	buf := make([]byte, 10)
	if n, err := s.Read(ctx, buf, -1, false); n != 0 || err != nil {
		t.Errorf("VMIN=0 VTIME=0 with nothing: %d, %v; want 0 at once", n, err)
	}
	tios.Cc[unix.VTIME] = 1
	m.SetTermios(tios)
	if n, err := s.Read(ctx, buf, -1, false); n != 0 || err != nil {
		t.Errorf("VMIN=0 VTIME=1 timing out: %d, %v", n, err)
	}
	m.Write(ctx, []byte("abc"), -1, false)
	if n, _ := s.Read(ctx, buf, -1, false); n != 3 {
		t.Errorf("VMIN=0 VTIME=1 with data: %d", n)
	}
	tios.Cc[unix.VMIN], tios.Cc[unix.VTIME] = 2, 0
	m.SetTermios(tios)
	if n, err := s.Read(ctx, buf, -1, true); err != unix.EAGAIN {
		t.Errorf("non-blocking VMIN=2 read with nothing: %d, %v", n, err)
	}
	m.Write(ctx, []byte("xyz"), -1, false)
	if n, _ := s.Read(ctx, buf[:2], -1, false); n != 2 {
		t.Errorf("VMIN=2: %d", n)
	}
	s.Release()
	m.Release()
}

func TestParseOptions(t *testing.T) {
	shift := func(g uint32) (uint32, bool) { return g + 1000, g < 10 }
	o, err := devpts.ParseOptions([]string{"newinstance", "ptmxmode=0666", "mode=620", "gid=5", "max=10"}, shift, true)
	if err != nil || o != (devpts.Options{Mode: 0o620, PtmxMode: 0o666, GID: 1005, SetGID: true}) {
		t.Errorf("bubblewrap's options: %+v, %v", o, err)
	}
	if o, err := devpts.ParseOptions([]string{""}, shift, true); err != nil || o != (devpts.Options{Mode: 0o600}) {
		t.Errorf("no options: %+v, %v (want Linux's defaults)", o, err)
	}
	for _, bad := range []string{"gid=20", "mode=8", "mode=1000", "uid=x", "bogus"} {
		if _, err := devpts.ParseOptions([]string{bad}, shift, true); err != unix.EINVAL {
			t.Errorf("%s: %v, want EINVAL", bad, err)
		}
	}
	// An OCI configuration lists the generic options with devpts's.
	if o, err := devpts.ParseOptions([]string{"nosuid", "noexec", "mode=0620"}, shift, false); err != nil || o.Mode != 0o620 {
		t.Errorf("OCI options: %+v, %v", o, err)
	}
}
