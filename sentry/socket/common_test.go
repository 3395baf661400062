package socket

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/veil-sandbox/veil/sentry/vfs/vfstest"
	"golang.org/x/sys/unix"
)

func intVal(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func timeval(sec, usec int64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(sec))
	return binary.LittleEndian.AppendUint64(b, uint64(usec))
}

func noUnsupported(t *testing.T) func(string) {
	return func(what string) { t.Errorf("counted as unsupported: %s", what) }
}

// TestBufferSizes: SO_SNDBUF/SO_RCVBUF double the request, cap it at the
// sysctl maximum and keep it above the minimum (socket(7)).
func TestBufferSizes(t *testing.T) {
	c := NewCommon(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	ctx := vfstest.User(1000, 1000)
	for _, tc := range []struct {
		opt  int
		set  int32
		want int
	}{
		{unix.SO_SNDBUF, 10000, 20000},
		{unix.SO_SNDBUF, 1, MinSndBuf},
		{unix.SO_SNDBUF, -1, 2 * MaxBufSize},
		{unix.SO_RCVBUF, 1, MinRcvBuf},
		{unix.SO_RCVBUF, 1 << 30, 2 * MaxBufSize},
	} {
		if err := c.SetSockOpt(ctx, nil, tc.opt, intVal(tc.set), noUnsupported(t)); err != nil {
			t.Fatal(err)
		}
		got := c.SndBuf()
		if tc.opt == unix.SO_RCVBUF {
			got = c.RcvBuf()
		}
		if got != tc.want {
			t.Errorf("option %d set to %d reads %d, want %d", tc.opt, tc.set, got, tc.want)
		}
	}
	if err := c.SetSockOpt(ctx, nil, unix.SO_SNDBUFFORCE, intVal(1<<20), noUnsupported(t)); err != unix.EPERM {
		t.Errorf("SO_SNDBUFFORCE without CAP_NET_ADMIN: %v, want EPERM", err)
	}
	if err := c.SetSockOpt(ctx, nil, unix.SO_SNDBUF, []byte{1, 2}, noUnsupported(t)); err != unix.EINVAL {
		t.Errorf("short option: %v, want EINVAL", err)
	}
}

// TestTimeouts: SO_RCVTIMEO is kept in jiffies (HZ 250), 0 waits forever
// and a negative time makes receives non-blocking.
func TestTimeouts(t *testing.T) {
	c := NewCommon(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	ctx := vfstest.Root()
	if w := c.RecvWait(false); w != (Wait{}) {
		t.Errorf("default wait %+v, want forever", w)
	}
	for _, tc := range []struct {
		sec, usec         int64
		wantSec, wantUsec uint64
		wait              Wait
	}{
		{1, 500000, 1, 500000, Wait{Timeout: 1500 * time.Millisecond}},
		{0, 1000, 0, 4000, Wait{Timeout: 4 * time.Millisecond}},
		{0, 0, 0, 0, Wait{}},
		{-5, 0, 0, 0, Wait{Nonblock: true}},
	} {
		if err := c.SetSockOpt(ctx, nil, unix.SO_RCVTIMEO, timeval(tc.sec, tc.usec), noUnsupported(t)); err != nil {
			t.Fatal(err)
		}
		b, err := c.GetSockOpt(nil, unix.SO_RCVTIMEO, 16, noUnsupported(t))
		if err != nil {
			t.Fatal(err)
		}
		if s, u := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]); s != tc.wantSec || u != tc.wantUsec {
			t.Errorf("SO_RCVTIMEO %d.%06d reads %d.%06d, want %d.%06d", tc.sec, tc.usec, s, u, tc.wantSec, tc.wantUsec)
		}
		if w := c.RecvWait(false); w != tc.wait {
			t.Errorf("SO_RCVTIMEO %d.%06d waits %+v, want %+v", tc.sec, tc.usec, w, tc.wait)
		}
	}
	if err := c.SetSockOpt(ctx, nil, unix.SO_SNDTIMEO, timeval(0, 1e6), noUnsupported(t)); err != unix.EDOM {
		t.Errorf("tv_usec out of range: %v, want EDOM", err)
	}
	if w := c.SendWait(true); !w.Nonblock {
		t.Errorf("MSG_DONTWAIT must not wait: %+v", w)
	}
}

// TestErrorAndPeerCred: SO_ERROR reads and clears; SO_PEERCRED without a
// peer is pid 0, uid and gid -1.
func TestErrorAndPeerCred(t *testing.T) {
	c := NewCommon(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	c.SetError(unix.ECONNRESET)
	b, _ := c.GetSockOpt(nil, unix.SO_ERROR, 4, noUnsupported(t))
	if e := binary.LittleEndian.Uint32(b); e != uint32(unix.ECONNRESET) {
		t.Errorf("SO_ERROR %d, want ECONNRESET", e)
	}
	if c.TakeError() != nil {
		t.Errorf("SO_ERROR did not clear the error")
	}
	b, _ = c.GetSockOpt(nil, unix.SO_PEERCRED, SizeofUcred, noUnsupported(t))
	if binary.LittleEndian.Uint32(b) != 0 || binary.LittleEndian.Uint32(b[4:]) != ^uint32(0) {
		t.Errorf("SO_PEERCRED without a peer % x", b)
	}
	var unsupported []string
	c.GetSockOpt(nil, unix.SO_TIMESTAMP, 4, func(w string) { unsupported = append(unsupported, w) })
	if len(unsupported) != 1 {
		t.Errorf("SO_TIMESTAMP should be counted as unsupported once, got %v", unsupported)
	}
}
