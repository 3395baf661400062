package pipe

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestSpliceFromKeepsWhatIsNotWritten(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	w.Write(ctx, []byte("hello world"), -1, false)
	var got []byte
	n, err := r.p.SpliceFrom(ctx, 100, false, func(b []byte) (int, error) {
		got = append(got, b[:5]...)
		return 5, nil
	})
	if n != 5 || err != nil || string(got) != "hello" {
		t.Fatalf("SpliceFrom: %d %v %q", n, err, got)
	}
	if b := r.p.Buffered(); b != 6 {
		t.Fatalf("%d bytes left, want 6", b)
	}
	// A failing write consumes nothing.
	n, err = r.p.SpliceFrom(ctx, 100, false, func([]byte) (int, error) { return 0, unix.ENOSPC })
	if n != 0 || err != unix.ENOSPC || r.p.Buffered() != 6 {
		t.Fatalf("failing write: %d %v, %d left", n, err, r.p.Buffered())
	}
	buf := make([]byte, 10)
	if n, _ := r.Read(ctx, buf, -1, false); string(buf[:n]) != " world" {
		t.Fatalf("rest %q", buf[:n])
	}
	_, err = r.p.SpliceFrom(ctx, 10, true, func(b []byte) (int, error) { return len(b), nil })
	wantErrno(t, err, unix.EAGAIN)
	w.Release()
	if n, err := r.p.SpliceFrom(ctx, 10, false, func(b []byte) (int, error) { return len(b), nil }); n != 0 || err != nil {
		t.Fatalf("no writer: %d %v, want EOF", n, err)
	}
}

func TestSpliceToWaitsForRoom(t *testing.T) {
	ctx := newCtx()
	r, w := NewAnonymous()
	full := make([]byte, DefaultSize)
	w.Write(ctx, full, -1, false)
	_, err := w.p.SpliceTo(ctx, 10, true, func(b []byte) (int, error) { return len(b), nil })
	wantErrno(t, err, unix.EAGAIN)
	done := finishes(func() {
		n, err := w.p.SpliceTo(ctx, 100, false, func(b []byte) (int, error) {
			if len(b) > 10 {
				t.Errorf("read asked for %d bytes with 10 free", len(b))
			}
			return copy(b, "0123456789"), nil
		})
		if n != 10 || err != nil {
			t.Errorf("SpliceTo: %d %v", n, err)
		}
	})
	mustNotFinish(t, done, "SpliceTo into a full pipe")
	r.Read(ctx, make([]byte, 10), -1, false)
	<-done
	r.Release()
	_, err = w.p.SpliceTo(ctx, 10, false, func(b []byte) (int, error) { return len(b), nil })
	wantErrno(t, err, unix.EPIPE)
}

func TestSpliceAndTeeBetweenPipes(t *testing.T) {
	ctx := newCtx()
	r1, w1 := NewAnonymous()
	r2, w2 := NewAnonymous()
	w1.Write(ctx, []byte("abcdef"), -1, false)
	if n, err := Splice(ctx, r1.p, w2.p, 4, false, false); n != 4 || err != nil {
		t.Fatalf("tee: %d %v", n, err)
	}
	if r1.p.Buffered() != 6 || r2.p.Buffered() != 4 {
		t.Fatalf("after tee: %d and %d buffered", r1.p.Buffered(), r2.p.Buffered())
	}
	if n, err := Splice(ctx, r1.p, w2.p, 100, false, true); n != 6 || err != nil {
		t.Fatalf("splice: %d %v", n, err)
	}
	buf := make([]byte, 20)
	if n, _ := r2.Read(ctx, buf, -1, false); string(buf[:n]) != "abcdabcdef" {
		t.Fatalf("got %q", buf[:n])
	}
	// An empty source waits for data.
	done := finishes(func() {
		if n, err := Splice(ctx, r1.p, w2.p, 100, false, true); n != 1 || err != nil {
			t.Errorf("splice after waiting: %d %v", n, err)
		}
	})
	mustNotFinish(t, done, "splice from an empty pipe")
	w1.Write(ctx, []byte("z"), -1, false)
	<-done
	w1.Release()
	if n, err := Splice(ctx, r1.p, w2.p, 100, false, true); n != 0 || err != nil {
		t.Fatalf("no writer: %d %v", n, err)
	}
	r2.Release()
	w1b := &File{p: r1.p, writable: true}
	r1.p.mu.Lock()
	r1.p.writers++
	r1.p.mu.Unlock()
	w1b.Write(ctx, []byte("q"), -1, false)
	_, err := Splice(ctx, r1.p, w2.p, 100, false, true)
	wantErrno(t, err, unix.EPIPE)
}

func wantErrno(t *testing.T, err error, want unix.Errno) {
	t.Helper()
	if err != want {
		t.Fatalf("got %v, want %v", err, want)
	}
}
