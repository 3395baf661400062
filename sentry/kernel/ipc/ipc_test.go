package ipc

import (
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

// blocker waits on channels like a task, with an interrupt to simulate a
// signal.
type blocker struct{ intr chan struct{} }

func newBlocker() *blocker { return &blocker{intr: make(chan struct{})} }

func (b *blocker) Block(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-b.intr:
		return syserr.ErrInterrupted
	}
}

func (b *blocker) BlockUntil(ch <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-b.intr:
		return syserr.ErrInterrupted
	case <-t.C:
		return unix.ETIMEDOUT
	}
}

func root() *Caller { return &Caller{PID: 1} }

func user(uid uint32) *Caller {
	return &Caller{EUID: uid, EGID: uid, PID: int32(uid), Capable: func(int) bool { return false }}
}

func TestIDsAndKeys(t *testing.T) {
	ns := NewNamespace(nil, nil)
	a, err := ns.MsgGet(root(), IPCPrivate, 0o600)
	if err != nil || a != 0 {
		t.Fatalf("first id = %d, %v; want 0 (Linux numbers a fresh namespace from 0)", a, err)
	}
	b, _ := ns.MsgGet(root(), 42, IPCCreat|0o644)
	if b != 1 {
		t.Fatalf("second id = %d, want 1", b)
	}
	if id, err := ns.MsgGet(root(), 42, 0); id != b || err != nil {
		t.Fatalf("get by key = %d, %v", id, err)
	}
	if _, err := ns.MsgGet(root(), 42, IPCCreat|IPCExcl); err != unix.EEXIST {
		t.Fatalf("IPC_EXCL on an existing key: %v", err)
	}
	if _, err := ns.MsgGet(root(), 43, 0); err != unix.ENOENT {
		t.Fatalf("missing key without IPC_CREAT: %v", err)
	}
	// Permissions: 0644 gives others read only.
	if _, err := ns.MsgGet(user(1000), 42, 0o200); err != unix.EACCES {
		t.Fatalf("write access for another user: %v", err)
	}
	if _, err := ns.MsgGet(user(1000), 42, 0o400); err != nil {
		t.Fatalf("read access for another user: %v", err)
	}
	// A removed index is reused with a new sequence number.
	if err := ns.MsgRemove(root(), a); err != nil {
		t.Fatal(err)
	}
	if err := ns.MsgRemove(user(1000), b); err != unix.EPERM {
		t.Fatalf("IPC_RMID by a stranger: %v", err)
	}
	c, _ := ns.MsgGet(root(), IPCPrivate, 0o600)
	if c != 2 {
		t.Fatalf("third id = %d, want 2 (indexes are handed out cyclically)", c)
	}
	ns.MsgRemove(root(), b)
	ns.MsgRemove(root(), c)
	d, _ := ns.MsgGet(root(), IPCPrivate, 0o600)
	if d&(IPCMNI-1) != 3 {
		t.Fatalf("fourth id = %d, want index 3", d)
	}
	if _, err := ns.MsgStat(root(), a); err != unix.EINVAL {
		t.Fatalf("stale id: %v", err)
	}
}

func TestSemaphores(t *testing.T) {
	ns := NewNamespace(nil, nil)
	id, err := ns.SemGet(root(), IPCPrivate, 2, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	b := newBlocker()
	ul := NewUndoList()
	undo := func() *UndoList { return ul }
	// Blocked until another caller raises the value.
	done := make(chan error)
	go func() { done <- ns.SemTimedOp(root(), b, id, []SemOp{{Num: 0, Op: -1}}, undo, nil) }()
	for {
		n, _ := ns.SemGetValue(root(), id, 0, GetNCnt)
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := ns.SemTimedOp(root(), b, id, []SemOp{{Num: 0, Op: 1}}, undo, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("woken semop: %v", err)
	}
	// SEM_UNDO: the adjustment is given back at exit.
	if err := ns.SemTimedOp(root(), b, id, []SemOp{{Num: 1, Op: 5, Flag: SemUndo}}, undo, nil); err != nil {
		t.Fatal(err)
	}
	ul.Exit(77)
	if v, _ := ns.SemGetValue(root(), id, 1, GetVal); v != 0 {
		t.Fatalf("after undo: %d", v)
	}
	if p, _ := ns.SemGetValue(root(), id, 1, GetPID); p != 77 {
		t.Fatalf("sempid after undo: %d", p)
	}
	// Interrupted: EINTR; timed out: EAGAIN.
	go func() { done <- ns.SemTimedOp(root(), b, id, []SemOp{{Num: 0, Op: -1}}, undo, nil) }()
	time.Sleep(5 * time.Millisecond)
	close(b.intr)
	if err := <-done; err != unix.EINTR {
		t.Fatalf("interrupted semop: %v", err)
	}
	dl := time.Now().Add(time.Millisecond)
	if err := ns.SemTimedOp(root(), newBlocker(), id, []SemOp{{Num: 0, Op: -1}}, undo, &dl); err != unix.EAGAIN {
		t.Fatalf("timed out semop: %v", err)
	}
	if err := ns.SemTimedOp(root(), b, id, []SemOp{{Num: 2, Op: 1}}, undo, nil); err != unix.EFBIG {
		t.Fatalf("semaphore out of range: %v", err)
	}
	if err := ns.SemSetValue(root(), id, 0, SemVmx+1); err != unix.ERANGE {
		t.Fatalf("SETVAL over SEMVMX: %v", err)
	}
}

func TestMessages(t *testing.T) {
	ns := NewNamespace(nil, nil)
	id, _ := ns.MsgGet(root(), IPCPrivate, 0o600)
	b := newBlocker()
	for i, typ := range []int64{3, 1, 2, 1} {
		if err := ns.MsgSend(root(), b, id, typ, []byte{byte('a' + i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		typ  int64
		flag uint32
		got  string
	}{{1, 0, "b"}, {-2, 0, "d"}, {3, MsgExcept, "c"}, {0, 0, "a"}}
	for _, w := range want {
		_, data, err := ns.MsgReceive(root(), b, id, 10, w.typ, w.flag)
		if err != nil || string(data) != w.got {
			t.Fatalf("msgrcv(%d, %#o) = %q, %v; want %q", w.typ, w.flag, data, err, w.got)
		}
	}
	if _, _, err := ns.MsgReceive(root(), b, id, 10, 0, IPCNoWait); err != unix.ENOMSG {
		t.Fatalf("empty queue: %v", err)
	}
	ns.MsgSend(root(), b, id, 1, []byte("hello"), 0)
	if _, _, err := ns.MsgReceive(root(), b, id, 2, 0, 0); err != unix.E2BIG {
		t.Fatalf("short buffer: %v", err)
	}
	if _, data, _ := ns.MsgReceive(root(), b, id, 2, 0, MsgNoError); string(data) != "he" {
		t.Fatalf("MSG_NOERROR: %q", data)
	}
	// A full queue blocks the sender; a removal wakes it with EIDRM.
	if err := ns.MsgSet(root(), id, 0, 0, 0o600, 4); err != nil {
		t.Fatal(err)
	}
	ns.MsgSend(root(), b, id, 1, []byte("1234"), 0)
	if err := ns.MsgSend(root(), b, id, 1, []byte("5"), IPCNoWait); err != unix.EAGAIN {
		t.Fatalf("full queue: %v", err)
	}
	done := make(chan error)
	go func() { done <- ns.MsgSend(root(), b, id, 1, []byte("5"), 0) }()
	time.Sleep(5 * time.Millisecond)
	ns.MsgRemove(root(), id)
	if err := <-done; err != unix.EIDRM {
		t.Fatalf("sender of a removed queue: %v", err)
	}
	if err := ns.MsgSet(user(5), 0, 0, 0, 0, MsgMnb+1); err != unix.EINVAL {
		t.Fatalf("IPC_SET of a missing queue: %v", err)
	}
}

func TestSegmentLifetime(t *testing.T) {
	ns := NewNamespace(nil, nil)
	id, err := ns.ShmGet(root(), 7, 5000, IPCCreat|0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.ShmGet(root(), 7, 9000, 0); err != unix.EINVAL {
		t.Fatalf("larger size for an existing key: %v", err)
	}
	s, err := ns.ShmAttach(root(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.CountMappings(1, 3)
	s.AttachDone(root(), true)
	if err := ns.ShmRemove(root(), id); err != nil {
		t.Fatal(err)
	}
	d, err := ns.ShmStat(root(), id)
	if err != nil || d.Perm.Mode&ShmDest == 0 || d.Perm.Key != IPCPrivate || d.Nattch != 1 {
		t.Fatalf("after IPC_RMID while attached: %+v, %v", d, err)
	}
	if _, err := ns.ShmGet(root(), 7, 5000, 0); err != unix.ENOENT {
		t.Fatalf("the key of a removed segment is free: %v", err)
	}
	s.CountMappings(-1, 3)
	if _, err := ns.ShmStat(root(), id); err != unix.EINVAL {
		t.Fatalf("after the last detach: %v", err)
	}
	if u, _ := ns.ShmInfoUsage(); u.UsedIDs != 0 || u.Tot != 0 {
		t.Fatalf("usage after destruction: %+v", u)
	}
}
