package syscalls

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/veil-sandbox/veil/sentry/aio"
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/eventfd"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/mm"
	"github.com/veil-sandbox/veil/sentry/syserr"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// Linux AIO (io_setup(2), io_submit(2), io_getevents(2),
// io_pgetevents(2), io_cancel(2), io_destroy(2); contexts in sentry/aio).
// IOCB_CMD_PREAD, PWRITE, PREADV, PWRITEV, FSYNC and FDSYNC run to
// completion in io_submit (as Linux does buffered AIO); IOCB_CMD_POLL
// completes when the file is ready. The ring that Linux maps for each
// context is mapped too (its address is the aio_context_t) but kept empty
// with a zero magic, so libaio always asks io_getevents.
//
// Also here: readahead(2) and sync_file_range(2).

func init() {
	register(unix.SYS_IO_SETUP, "io_setup", sysIoSetup, Int, Hex)
	register(unix.SYS_IO_DESTROY, "io_destroy", sysIoDestroy, Hex)
	register(unix.SYS_IO_SUBMIT, "io_submit", sysIoSubmit, Hex, Int, Hex).partial("requests complete in io_submit except IOCB_CMD_POLL; RWF_NOWAIT only on regular files")
	register(unix.SYS_IO_GETEVENTS, "io_getevents", sysIoGetevents, Hex, Int, Int, Hex, Hex)
	register(unix.SYS_IO_PGETEVENTS, "io_pgetevents", sysIoPgetevents, Hex, Int, Int, Hex, Hex, Hex)
	register(unix.SYS_IO_CANCEL, "io_cancel", sysIoCancel, Hex, Hex, Hex)
	register(unix.SYS_READAHEAD, "readahead", sysReadahead, FD, Int, Int)
	register(unix.SYS_SYNC_FILE_RANGE, "sync_file_range", sysSyncFileRange, FD, Int, Int, Hex)
}

// iocb opcodes and flags (include/uapi/linux/aio_abi.h).
const (
	iocbCmdPread   = 0
	iocbCmdPwrite  = 1
	iocbCmdFsync   = 2
	iocbCmdFdsync  = 3
	iocbCmdPoll    = 5
	iocbCmdPreadv  = 7
	iocbCmdPwritev = 8

	iocbFlagResfd  = 1
	iocbFlagIoprio = 2

	iocbSize    = 64
	ioEventSize = 32
	// aioRingHeader is sizeof(struct aio_ring).
	aioRingHeader = 32
	// rwfSupported are the RWF_* flags AIO accepts: HIPRI (no polled
	// I/O here: a hint), DSYNC, SYNC, NOWAIT and APPEND.
	rwfSupported = unix.RWF_HIPRI | unix.RWF_DSYNC | unix.RWF_SYNC | unix.RWF_NOWAIT | unix.RWF_APPEND
)

func aioContext(t *kernel.Task, id uint64) (*aio.Context, error) {
	c := aio.Lookup(t.MemoryManager(), id)
	if c == nil {
		return nil, unix.EINVAL
	}
	return c, nil
}

// sysIoSetup implements io_setup(2): *ctxp must be 0 and nr_events not 0
// (EINVAL); EAGAIN past aio-max-nr.
func sysIoSetup(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	nr, ctxp := uint32(a[0]), uintptr(a[1])
	cur, err := getInt64(t, ctxp)
	if err != nil {
		return 0, err
	}
	if cur != 0 || nr == 0 {
		return 0, unix.EINVAL
	}
	if nr > aio.MaxEvents {
		return 0, unix.EAGAIN
	}
	m := t.MemoryManager()
	length := uintptr(aioRingHeader + ioEventSize*int(nr))
	addr, err := m.MMap(mm.MMapOpts{Length: length, Prot: unix.PROT_READ | unix.PROT_WRITE, MaxProt: unix.PROT_READ | unix.PROT_WRITE, Name: "/[aio] (deleted)"})
	if err != nil {
		return 0, unix.EAGAIN
	}
	// The ring's header: id, nr, head, tail, magic (0: not kept),
	// compat features, incompat features, header length.
	var hdr [aioRingHeader]byte
	le := binary.LittleEndian
	le.PutUint32(hdr[4:], nr)
	le.PutUint32(hdr[20:], 1)
	le.PutUint32(hdr[28:], aioRingHeader)
	if err := t.CopyOut(addr, hdr[:]); err != nil {
		m.Munmap(addr, length)
		return 0, err
	}
	if _, err := aio.New(m, uint64(addr), length, int(nr)); err != nil {
		m.Munmap(addr, length)
		return 0, err
	}
	if err := putInt64(t, ctxp, int64(addr)); err != nil {
		aio.Destroy(m, uint64(addr))
		m.Munmap(addr, length)
		return 0, err
	}
	return 0, nil
}

// sysIoDestroy implements io_destroy(2): requests in flight are
// cancelled, and the ring unmapped.
func sysIoDestroy(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	m := t.MemoryManager()
	c, err := aio.Destroy(m, uint64(a[0]))
	if err != nil {
		return 0, err
	}
	m.Munmap(uintptr(c.ID), c.RingLen)
	return 0, nil
}

// iocb is struct iocb.
type iocb struct {
	data      uint64
	rwFlags   uint32
	opcode    uint16
	reqprio   int16
	fd        uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resfd     uint32
}

func copyInIocb(t *kernel.Task, addr uintptr) (iocb, error) {
	var b [iocbSize]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return iocb{}, err
	}
	le := binary.LittleEndian
	return iocb{
		data: le.Uint64(b[0:]), rwFlags: le.Uint32(b[12:]), opcode: le.Uint16(b[16:]),
		reqprio: int16(le.Uint16(b[18:])), fd: le.Uint32(b[20:]), buf: le.Uint64(b[24:]),
		nbytes: le.Uint64(b[32:]), offset: int64(le.Uint64(b[40:])), reserved2: le.Uint64(b[48:]),
		flags: le.Uint32(b[56:]), resfd: le.Uint32(b[60:]),
	}, nil
}

// sysIoSubmit implements io_submit(2): it submits up to nr requests (at
// most the context's size) and returns how many were; an error is
// returned only if the first one fails.
func sysIoSubmit(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	nr := int64(a[1])
	if nr < 0 {
		return 0, unix.EINVAL
	}
	c, err := aioContext(t, uint64(a[0]))
	if err != nil {
		return 0, err
	}
	nr = min(nr, int64(c.Capacity()))
	list := uintptr(a[2])
	var i int64
	for ; i < nr; i++ {
		p, err := getInt64(t, list+uintptr(8*i))
		if err == nil {
			err = submitOne(t, c, uintptr(p))
		}
		if err != nil {
			if i == 0 {
				return 0, err
			}
			break
		}
	}
	return uintptr(i), nil
}

// submitOne checks and runs one request, as Linux's io_submit_one: the
// errors of the request's set-up fail the submission, those of the I/O
// itself go to the event.
func submitOne(t *kernel.Task, c *aio.Context, addr uintptr) error {
	cb, err := copyInIocb(t, addr)
	if err != nil {
		return err
	}
	if cb.reserved2 != 0 || int64(cb.nbytes) < 0 {
		return unix.EINVAL
	}
	if !c.Reserve() {
		return unix.EAGAIN
	}
	ok := false
	defer func() {
		if !ok {
			c.Unreserve()
		}
	}()
	f, err := fileOf(t, int32(cb.fd))
	if err != nil {
		return err
	}
	defer f.DecRef()
	var efd *eventfd.File
	if cb.flags&iocbFlagResfd != 0 {
		ef, err := fileOf(t, int32(cb.resfd))
		if err != nil {
			return err
		}
		defer ef.DecRef()
		if efd, _ = ef.Impl().(*eventfd.File); efd == nil {
			return unix.EINVAL
		}
	}
	if cb.flags&iocbFlagIoprio != 0 {
		if err := checkIOPrio(t, int32(cb.reqprio)); err != nil {
			return err
		}
	}
	// Linux writes KIOCB_KEY (0) into aio_key.
	if err := t.CopyOut(addr+8, make([]byte, 4)); err != nil {
		return err
	}
	complete := func(res int64) {
		c.Complete(aio.Event{Data: cb.data, Obj: uint64(addr), Res: res})
		if efd != nil {
			efd.Signal(1)
		}
	}
	switch cb.opcode {
	case iocbCmdPread, iocbCmdPwrite, iocbCmdPreadv, iocbCmdPwritev:
		write := cb.opcode == iocbCmdPwrite || cb.opcode == iocbCmdPwritev
		run, err := prepRW(t, f, cb, write)
		if err != nil {
			return err
		}
		ok = true
		complete(run())
	case iocbCmdFsync, iocbCmdFdsync:
		if cb.buf != 0 || cb.offset != 0 || cb.nbytes != 0 || cb.rwFlags != 0 {
			return unix.EINVAL
		}
		if f.IsPath() {
			return unix.EBADF
		}
		ok = true
		complete(resOf(0, f.Sync(t)))
	case iocbCmdPoll:
		if uint64(uint16(cb.buf)) != cb.buf || cb.offset != 0 || cb.nbytes != 0 || cb.rwFlags != 0 {
			return unix.EINVAL
		}
		if f.IsPath() {
			return unix.EBADF
		}
		ok = true
		startPoll(c, f, uint64(addr), waiter.EventMask(cb.buf)|waiter.EventErr|waiter.EventHUp, complete)
	default:
		return unix.EINVAL
	}
	return nil
}

// resOf is the res of an io_event: n, or -errno.
func resOf(n int64, err error) int64 {
	if err == nil {
		return n
	}
	if e, ok := err.(unix.Errno); ok {
		return -int64(e)
	}
	if err == syserr.ErrInterrupted {
		return -int64(unix.EINTR)
	}
	return -int64(unix.EIO)
}

// prepRW checks a read or write request and returns the function doing
// it: EBADF for a file not open for it, EOPNOTSUPP for unknown RWF_* flags
// (and RWF_NOWAIT on files that can block), EINVAL for a negative offset
// on a file with a position, the iovec errors for the vectored ones.
func prepRW(t *kernel.Task, f *vfs.FileDescription, cb iocb, write bool) (func() int64, error) {
	if write && !f.IsWritable() || !write && !f.IsReadable() {
		return nil, unix.EBADF
	}
	if cb.rwFlags&^rwfSupported != 0 {
		return nil, unix.EOPNOTSUPP
	}
	if cb.rwFlags&unix.RWF_NOWAIT != 0 {
		if st, err := f.Stat(t); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, unix.EOPNOTSUPP
		}
	}
	var segs []seg
	if cb.opcode == iocbCmdPreadv || cb.opcode == iocbCmdPwritev {
		var err error
		if segs, err = copyInIovecs(t, uintptr(cb.buf), cb.nbytes); err != nil {
			return nil, err
		}
	} else {
		segs = []seg{{uintptr(cb.buf), clampCount(cb.nbytes)}}
	}
	off := cb.offset
	if !f.Seekable() {
		off = -1 // streams ignore the offset (their read_iter does)
	} else if off < 0 {
		return nil, unix.EINVAL
	}
	return func() int64 {
		var n uintptr
		var err error
		if write {
			if cb.rwFlags&unix.RWF_APPEND != 0 && off >= 0 {
				// RWF_APPEND: at the end of file, whatever the offset.
				if st, serr := f.Stat(t); serr == nil {
					off = st.Size
				}
			}
			n, err = writeFile(t, f, segs, off)
			if err == nil && cb.rwFlags&(unix.RWF_DSYNC|unix.RWF_SYNC) != 0 {
				err = f.Sync(t)
			}
		} else {
			n, err = readFile(t, f, segs, off)
		}
		return resOf(int64(n), err)
	}, nil
}

// startPoll runs IOCB_CMD_POLL: it completes with the ready events (a
// poll(2) revents mask) at once if there are some, else with the events
// of the first wake-up that has one of them (all the wake-up's events, as
// Linux's aio_poll_wake reports), or with those ready when cancelled.
func startPoll(c *aio.Context, f *vfs.FileDescription, obj uint64, mask waiter.EventMask, complete func(int64)) {
	if r := f.Readiness(mask); r != 0 {
		complete(int64(r))
		return
	}
	f.IncRef()
	var once sync.Once
	var e *waiter.Entry
	finish := func(res int64) {
		once.Do(func() {
			// Queues notify without their lock held.
			f.EventUnregister(e)
			f.DecRef()
			if c.Done(obj) {
				complete(res)
			}
		})
	}
	e = &waiter.Entry{Mask: ^waiter.EventMask(0), Notify: func(ready waiter.EventMask) {
		if ready&mask != 0 {
			finish(int64(ready))
		}
	}}
	if !c.InFlight(obj, func() { finish(int64(f.Readiness(mask))) }) {
		f.DecRef()
		return
	}
	f.EventRegister(e)
	// Look again: it may have become ready before the registration.
	if r := f.Readiness(mask); r != 0 {
		finish(int64(r))
	}
}

// getEvents is io_getevents(2) and io_pgetevents(2) without the signal
// mask: EINVAL for a bad context, min_nr < 0, nr < 0 or min_nr > nr; a
// signal before any event gives EINTR (not restarted, as Linux).
func getEvents(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	minNr, nr, evAddr, tsAddr := int64(a[1]), int64(a[2]), uintptr(a[3]), uintptr(a[4])
	c, err := aioContext(t, uint64(a[0]))
	if err != nil {
		return 0, err
	}
	if minNr < 0 || nr < 0 || minNr > nr {
		return 0, unix.EINVAL
	}
	timeout := time.Duration(-1)
	if tsAddr != 0 {
		if timeout, err = copyInTimespec(t, tsAddr); err != nil {
			return 0, err
		}
		if timeout < 0 {
			return 0, unix.EINVAL
		}
	}
	evs, err := c.GetEvents(t, int(minNr), int(nr), timeout)
	if err != nil {
		if err == syserr.ErrInterrupted {
			return 0, unix.EINTR
		}
		return 0, err
	}
	b := make([]byte, ioEventSize*len(evs))
	le := binary.LittleEndian
	for i, ev := range evs {
		o := b[i*ioEventSize:]
		le.PutUint64(o[0:], ev.Data)
		le.PutUint64(o[8:], ev.Obj)
		le.PutUint64(o[16:], uint64(ev.Res))
		le.PutUint64(o[24:], uint64(ev.Res2))
	}
	if len(b) > 0 {
		if err := t.CopyOut(evAddr, b); err != nil {
			return 0, err
		}
	}
	return uintptr(len(evs)), nil
}

func sysIoGetevents(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return getEvents(t, a)
}

// sysIoPgetevents implements io_pgetevents(2): io_getevents with the
// signal mask of struct __aio_sigset { sigmask, sigsetsize } in place
// while it waits.
func sysIoPgetevents(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	masked := false
	if usig := uintptr(a[5]); usig != 0 {
		var b [16]byte
		if err := t.CopyIn(usig, b[:]); err != nil {
			return 0, err
		}
		var err error
		masked, err = setTempSigmask(t, uintptr(binary.LittleEndian.Uint64(b[0:])), binary.LittleEndian.Uint64(b[8:]))
		if err != nil {
			return 0, err
		}
	}
	n, err := getEvents(t, a)
	if masked && err != unix.EINTR {
		t.RestoreSavedSignalMask()
	} else if masked {
		// The signal's delivery restores the mask (as ppoll), but
		// io_pgetevents is not restarted.
		err = unix.EINTR
	}
	return n, err
}

// sysIoCancel implements io_cancel(2): only a poll still in flight can be
// cancelled; it then completes through the ring (io_getevents) and the
// call answers EINPROGRESS, as Linux does. Others: EINVAL.
func sysIoCancel(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	c, err := aioContext(t, uint64(a[0]))
	if err != nil {
		return 0, err
	}
	if _, err := copyInIocb(t, uintptr(a[1])); err != nil {
		return 0, err
	}
	return 0, c.Cancel(uint64(a[1]))
}

// sysReadahead implements readahead(2): EBADF unless fd is open for
// reading, EINVAL for anything but a regular file. The Sentry reads files
// when asked (tmpfs is memory, gofer files are the host's page cache), so
// there is nothing to prefetch.
func sysReadahead(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if !f.IsReadable() {
		return 0, unix.EBADF
	}
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || f.IsDir() {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// syncFileRangeFlags are SYNC_FILE_RANGE_WAIT_BEFORE, _WRITE and
// _WAIT_AFTER.
const syncFileRangeFlags = 1 | 2 | 4

// sysSyncFileRange implements sync_file_range(2): EINVAL for unknown
// flags, a negative offset or length, or a range past 2^63; ESPIPE for
// pipes and sockets; EBADF for O_PATH. Writes reach the host (or Sentry
// memory) when they are made, so there is no writeback to start; with
// SYNC_FILE_RANGE_WRITE|SYNC_FILE_RANGE_WAIT_AFTER the file is synced, as
// its data is then expected on the device.
func sysSyncFileRange(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	off, n, flags := int64(a[1]), int64(a[2]), uint32(a[3])
	if flags&^syncFileRangeFlags != 0 || off < 0 || n < 0 || off+n < off {
		return 0, unix.EINVAL
	}
	f, err := ioFileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := f.Stat(t)
	if err != nil {
		return 0, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFBLK, unix.S_IFDIR, unix.S_IFLNK:
	default:
		return 0, unix.ESPIPE
	}
	if flags&(2|4) == 2|4 {
		return 0, f.Sync(t)
	}
	return 0, nil
}
