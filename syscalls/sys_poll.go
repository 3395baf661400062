package syscalls

// Readiness multiplexing: poll(2), ppoll(2), select(2), pselect6(2).

import (
	"encoding/binary"
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

func init() {
	register(unix.SYS_POLL, "poll", sysPoll, Hex, Int, Int)
	register(unix.SYS_PPOLL, "ppoll", sysPpoll, Hex, Int, Hex, Hex, Int)
	register(unix.SYS_SELECT, "select", sysSelect, Int, Hex, Hex, Hex, Hex)
	register(unix.SYS_PSELECT6, "pselect6", sysPselect6, Int, Hex, Hex, Hex, Hex, Hex)
}

// Poll bits waiter lacks, and the event sets select(2) maps its fd sets
// to (fs/select.c).
const (
	pollNval   = 0x20
	pollRdBand = 0x80
	pollWrBand = 0x200

	selectIn  = waiter.EventIn | waiter.EventRdNorm | pollRdBand | waiter.EventHUp | waiter.EventErr
	selectOut = waiter.EventOut | waiter.EventWrNorm | pollWrBand | waiter.EventErr
	selectEx  = waiter.EventPri
)

// maxPollSeconds caps timeouts so they fit a time.Duration (~272 years is
// forever enough).
const maxPollSeconds = 1 << 33

// pollTimeout is a poll/select timeout: none (wait forever), zero (just
// look) or a deadline.
type pollTimeout struct {
	forever  bool
	zero     bool
	deadline time.Time
}

func newPollTimeout(d time.Duration) pollTimeout {
	switch {
	case d < 0:
		return pollTimeout{forever: true}
	case d == 0:
		return pollTimeout{zero: true}
	}
	return pollTimeout{deadline: time.Now().Add(d)}
}

// remaining returns the time left before the deadline (0 if passed).
func (pt pollTimeout) remaining() time.Duration {
	return max(time.Until(pt.deadline), 0)
}

// copyInPollTimespec reads a struct timespec timeout (EINVAL if negative
// or not normalized).
func copyInPollTimespec(t *kernel.Task, addr uintptr) (time.Duration, error) {
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	sec, nsec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return 0, unix.EINVAL
	}
	sec = min(sec, maxPollSeconds)
	return time.Duration(sec)*time.Second + time.Duration(nsec), nil
}

// copyInPollTimeval reads select's struct timeval timeout.
func copyInPollTimeval(t *kernel.Task, addr uintptr) (time.Duration, error) {
	var b [16]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	sec, usec := int64(binary.LittleEndian.Uint64(b[0:])), int64(binary.LittleEndian.Uint64(b[8:]))
	// Like Linux, whole seconds in tv_usec are carried over; negative
	// values are invalid.
	if sec < 0 || usec < 0 {
		return 0, unix.EINVAL
	}
	sec = min(sec, maxPollSeconds) + min(usec/1e6, maxPollSeconds)
	usec %= 1e6
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond, nil
}

// pollFinish writes the time left back to the caller's timeout (select,
// pselect6 and ppoll do, as Linux's poll_select_finish), so that a restart
// after a signal waits only for the rest. A zero or absent timeout is not
// updated. If the timeout cannot be written an interrupted call cannot be
// restarted and gives EINTR.
func pollFinish(t *kernel.Task, addr uintptr, timeval bool, pt pollTimeout, err error) error {
	if addr == 0 || pt.forever || pt.zero {
		return err
	}
	rem := pt.remaining()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(rem/time.Second))
	if timeval {
		binary.LittleEndian.PutUint64(b[8:], uint64(rem%time.Second/time.Microsecond))
	} else {
		binary.LittleEndian.PutUint64(b[8:], uint64(rem%time.Second))
	}
	if t.CopyOut(addr, b[:]) != nil && err == syserr.ERESTARTNOHAND {
		return unix.EINTR
	}
	return err
}

// pollSet is the set of files one poll or select call watches.
type pollSet struct {
	t       *kernel.Task
	files   []*vfs.FileDescription
	masks   []waiter.EventMask // events asked of each file
	ready   []waiter.EventMask // result of the last check
	entries []*waiter.Entry
	ch      chan struct{}
}

func newPollSet(t *kernel.Task, n int) *pollSet {
	return &pollSet{
		t:     t,
		files: make([]*vfs.FileDescription, 0, n),
		masks: make([]waiter.EventMask, 0, n),
		ch:    make(chan struct{}, 1),
	}
}

// add watches f (the set takes over the caller's reference) for mask.
func (ps *pollSet) add(f *vfs.FileDescription, mask waiter.EventMask) {
	// Files may report only one of POLLIN/POLLRDNORM (POLLOUT/POLLWRNORM):
	// ask for both.
	if mask&(waiter.EventIn|waiter.EventRdNorm) != 0 {
		mask |= waiter.EventIn | waiter.EventRdNorm
	}
	if mask&(waiter.EventOut|waiter.EventWrNorm) != 0 {
		mask |= waiter.EventOut | waiter.EventWrNorm
	}
	ps.files = append(ps.files, f)
	ps.masks = append(ps.masks, mask)
}

// check updates ps.ready and returns how many files are ready.
func (ps *pollSet) check() int {
	if ps.ready == nil {
		ps.ready = make([]waiter.EventMask, len(ps.files))
	}
	n := 0
	for i, f := range ps.files {
		r := f.Readiness(ps.masks[i])
		if r&waiter.EventIn != 0 {
			r |= waiter.EventRdNorm
		}
		if r&waiter.EventOut != 0 {
			r |= waiter.EventWrNorm
		}
		r &= ps.masks[i]
		ps.ready[i] = r
		if r != 0 {
			n++
		}
	}
	return n
}

func (ps *pollSet) register() {
	notify := func(waiter.EventMask) {
		select {
		case ps.ch <- struct{}{}:
		default:
		}
	}
	ps.entries = make([]*waiter.Entry, len(ps.files))
	for i, f := range ps.files {
		e := &waiter.Entry{Mask: ps.masks[i], Notify: notify}
		ps.entries[i] = e
		f.EventRegister(e)
	}
}

// release unregisters from and drops the references on every file.
func (ps *pollSet) release() {
	for i, f := range ps.files {
		if ps.entries != nil {
			f.EventUnregister(ps.entries[i])
		}
		f.DecRef()
	}
}

// wait checks the files until one is ready (returning how many are, with
// ps.ready filled), the timeout passes (0) or a signal interrupts the
// task (syserr.ErrInterrupted).
func (ps *pollSet) wait(pt pollTimeout, extra func() int) (int, error) {
	registered := false
	for {
		n := ps.check()
		if extra != nil {
			n += extra()
		}
		if n > 0 || pt.zero {
			return n, nil
		}
		if !registered {
			// Register, then look again: nothing that becomes ready
			// between the check and the registration is missed.
			ps.register()
			registered = true
			continue
		}
		var err error
		if pt.forever {
			err = ps.t.Block(ps.ch)
		} else {
			err = ps.t.BlockUntil(ps.ch, pt.deadline)
		}
		switch err {
		case nil:
		case unix.ETIMEDOUT:
			n := ps.check()
			if extra != nil {
				n += extra()
			}
			return n, nil
		default:
			return 0, err
		}
	}
}

// pollfd is one struct pollfd (8 bytes: int fd; short events; short
// revents).
const pollfdSize = 8

// doPoll implements poll and ppoll on the nfds pollfds at addr.
func doPoll(t *kernel.Task, addr uintptr, nfds uint64, pt pollTimeout) (int, error) {
	if nfds > uint64(t.FDTable().Limit()) {
		return 0, unix.EINVAL
	}
	buf := make([]byte, nfds*pollfdSize)
	if err := t.CopyIn(addr, buf); err != nil {
		return 0, err
	}
	ps := newPollSet(t, int(nfds))
	defer ps.release()
	// index[i] is the pollSet index of pollfd i, or -1 (negative fd) or
	// -2 (bad fd: POLLNVAL).
	index := make([]int, nfds)
	nval := 0
	for i := range index {
		p := buf[i*pollfdSize:]
		fd := int32(binary.LittleEndian.Uint32(p[0:]))
		events := waiter.EventMask(binary.LittleEndian.Uint16(p[4:]))
		if fd < 0 {
			index[i] = -1
			continue
		}
		f, err := t.FDTable().GetFile(fd)
		if err != nil {
			index[i] = -2
			nval++
			continue
		}
		if f.IsPath() {
			f.DecRef()
			index[i] = -2
			nval++
			continue
		}
		index[i] = len(ps.files)
		ps.add(f, events|waiter.EventErr|waiter.EventHUp)
	}
	var n int
	var err error
	if nval > 0 {
		n, err = ps.wait(pollTimeout{zero: true}, nil)
		n += nval
	} else {
		n, err = ps.wait(pt, nil)
	}
	if err != nil {
		return 0, err
	}
	for i, j := range index {
		var rev uint16
		switch {
		case j == -2:
			rev = pollNval
		case j >= 0:
			// Report only what was asked for, plus POLLERR/POLLHUP.
			events := waiter.EventMask(binary.LittleEndian.Uint16(buf[i*pollfdSize+4:]))
			rev = uint16(ps.ready[j] & (events | waiter.EventErr | waiter.EventHUp))
		}
		binary.LittleEndian.PutUint16(buf[i*pollfdSize+6:], rev)
	}
	if err := t.CopyOut(addr, buf); err != nil {
		return 0, err
	}
	return n, nil
}

func sysPoll(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	pt := newPollTimeout(msTimeout(int32(a[2])))
	n, err := doPoll(t, uintptr(a[0]), uint64(uint32(a[1])), pt) // nfds is an unsigned int
	if err == syserr.ErrInterrupted {
		// Restarted when no handler runs (Linux restarts through
		// restart_syscall with the remaining time; we restart with the
		// original timeout).
		return 0, syserr.ERESTART_RESTARTBLOCK
	}
	return uintptr(n), err
}

// setTempSigmask installs the temporary signal mask of ppoll and pselect6
// (sigsetsize must be 8).
func setTempSigmask(t *kernel.Task, maskAddr uintptr, size uint64) (bool, error) {
	if maskAddr == 0 {
		return false, nil
	}
	mask, err := copyInSigset(t, maskAddr, size)
	if err != nil {
		return false, err
	}
	t.SetSavedSignalMask(mask)
	return true, nil
}

func sysPpoll(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tsAddr := uintptr(a[2])
	pt := pollTimeout{forever: true}
	if tsAddr != 0 {
		d, err := copyInPollTimespec(t, tsAddr)
		if err != nil {
			return 0, err
		}
		pt = newPollTimeout(d)
	}
	masked, err := setTempSigmask(t, uintptr(a[3]), a[4])
	if err != nil {
		return 0, err
	}
	n, err := doPoll(t, uintptr(a[0]), uint64(uint32(a[1])), pt) // nfds is an unsigned int
	if err == syserr.ErrInterrupted {
		err = syserr.ERESTARTNOHAND
	}
	if masked && err != syserr.ERESTARTNOHAND {
		// The signal delivery restores the mask when interrupted.
		t.RestoreSavedSignalMask()
	}
	return uintptr(n), pollFinish(t, tsAddr, false, pt, err)
}

// doSelect implements select and pselect6.
func doSelect(t *kernel.Task, nfds int32, rAddr, wAddr, eAddr uintptr, pt pollTimeout) (int, error) {
	if nfds < 0 {
		return 0, unix.EINVAL
	}
	nfds = selectLimit(t, nfds)
	nbytes := (int(nfds) + 63) / 64 * 8
	addrs := [3]uintptr{rAddr, wAddr, eAddr}
	var in [3][]byte
	for i, addr := range addrs {
		if addr == 0 || nbytes == 0 {
			continue
		}
		in[i] = make([]byte, nbytes)
		if err := t.CopyIn(addr, in[i]); err != nil {
			return 0, err
		}
	}
	isSet := func(set []byte, fd int32) bool { return set != nil && set[fd/8]&(1<<(fd%8)) != 0 }
	ps := newPollSet(t, 0)
	defer ps.release()
	var fds []int32
	for fd := int32(0); fd < nfds; fd++ {
		r, w, e := isSet(in[0], fd), isSet(in[1], fd), isSet(in[2], fd)
		if !r && !w && !e {
			continue
		}
		f, err := t.FDTable().GetFile(fd)
		if err != nil {
			return 0, unix.EBADF
		}
		if f.IsPath() {
			f.DecRef()
			return 0, unix.EBADF
		}
		var mask waiter.EventMask
		if r {
			mask |= selectIn
		}
		if w {
			mask |= selectOut
		}
		if e {
			mask |= selectEx
		}
		ps.add(f, mask)
		fds = append(fds, fd)
	}
	// Count set bits, not files, as select's result.
	var out [3][]byte
	count := func() int {
		for i := range out {
			if in[i] != nil {
				out[i] = make([]byte, nbytes)
			}
		}
		n := 0
		for j, fd := range fds {
			r := ps.ready[j]
			for i, ev := range [3]waiter.EventMask{selectIn, selectOut, selectEx} {
				if isSet(in[i], fd) && r&ev != 0 {
					out[i][fd/8] |= 1 << (fd % 8)
					n++
				}
			}
		}
		return n
	}
	ready := 0
	_, err := ps.wait(pt, func() int { ready = count(); return ready })
	if err != nil {
		return 0, err
	}
	for i, addr := range addrs {
		if out[i] == nil {
			continue
		}
		if err := t.CopyOut(addr, out[i]); err != nil {
			return 0, err
		}
	}
	return ready, nil
}

// selectLimit caps select's nfds like Linux, which ignores the bits at or
// above the size of the fd table (max_fds: at least 64, doubled as
// needed to hold the highest descriptor): a program may pass a large nfds
// with garbage beyond its open descriptors.
func selectLimit(t *kernel.Task, nfds int32) int32 {
	if nfds <= 64 {
		return nfds
	}
	highest := int32(-1)
	t.FDTable().ForEach(func(fd int32, _ *vfs.FileDescription, _ bool) { highest = max(highest, fd) })
	size := int32(64)
	for size <= highest && size < 1<<30 {
		size *= 2
	}
	return min(nfds, size)
}

func sysSelect(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tvAddr := uintptr(a[4])
	pt := pollTimeout{forever: true}
	if tvAddr != 0 {
		d, err := copyInPollTimeval(t, tvAddr)
		if err != nil {
			return 0, err
		}
		pt = newPollTimeout(d)
	}
	n, err := doSelect(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), pt)
	if err == syserr.ErrInterrupted {
		err = syserr.ERESTARTNOHAND
	}
	return uintptr(n), pollFinish(t, tvAddr, true, pt, err)
}

func sysPselect6(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	tsAddr := uintptr(a[4])
	pt := pollTimeout{forever: true}
	if tsAddr != 0 {
		d, err := copyInPollTimespec(t, tsAddr)
		if err != nil {
			return 0, err
		}
		pt = newPollTimeout(d)
	}
	// The sixth argument points to { const sigset_t *ss; size_t ss_len; }.
	masked := false
	if sigAddr := uintptr(a[5]); sigAddr != 0 {
		var b [16]byte
		if err := t.CopyIn(sigAddr, b[:]); err != nil {
			return 0, err
		}
		var err error
		masked, err = setTempSigmask(t, uintptr(binary.LittleEndian.Uint64(b[0:])), binary.LittleEndian.Uint64(b[8:]))
		if err != nil {
			return 0, err
		}
	}
	n, err := doSelect(t, int32(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), pt)
	if err == syserr.ErrInterrupted {
		err = syserr.ERESTARTNOHAND
	}
	if masked && err != syserr.ERESTARTNOHAND {
		t.RestoreSavedSignalMask()
	}
	return uintptr(n), pollFinish(t, tsAddr, false, pt, err)
}
