package syscalls

import (
	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/fs/pipe"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// splice(2), tee(2) and vmsplice(2). The pipe side is the Sentry's pipe
// (sentry/fs/pipe: SpliceFrom, SpliceTo, Splice); the other side is read
// or written like read(2)/pread(2) and write(2)/pwrite(2) would. A host
// pipe given to the sandbox (stdin/stdout of `runsc do` in a shell
// pipeline) counts as a pipe too, served with a read and a write.

func init() {
	register(unix.SYS_SPLICE, "splice", sysSplice, FD, Hex, FD, Hex, Int, Hex)
	register(unix.SYS_TEE, "tee", sysTee, FD, FD, Int, Hex)
	register(unix.SYS_VMSPLICE, "vmsplice", sysVmsplice, FD, Hex, Int, Hex)
}

// spliceFlags are Linux's SPLICE_F_ALL.
const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MORE | unix.SPLICE_F_GIFT

// sentryPipe returns the Sentry pipe behind f, or nil.
func sentryPipe(f *vfs.FileDescription) *pipe.Pipe {
	if pf, ok := f.Impl().(*pipe.File); ok {
		return pf.Pipe()
	}
	return nil
}

// spliceKind says how splice treats a file that is not a Sentry pipe: a
// host pipe counts as a pipe, regular files, devices and sockets can be
// read and written; the rest (directories, eventfd, epoll, ...) have no
// splice_read/splice_write in Linux (EINVAL).
func spliceKind(t *kernel.Task, f *vfs.FileDescription) (isPipe, ok bool) {
	if f.IsDir() {
		return false, false
	}
	st, err := f.Stat(t)
	if err != nil {
		return false, false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return true, true
	case unix.S_IFREG, unix.S_IFCHR, unix.S_IFSOCK:
		return false, true
	}
	return false, false
}

// sysSplice implements splice(2): one of the files must be a pipe
// (EINVAL), a pipe takes no offset (ESPIPE), an offset needs a file with a
// position (EINVAL), the output must not be O_APPEND (EINVAL), and the
// files must be open for reading and writing (EBADF).
// SPLICE_F_NONBLOCK, or O_NONBLOCK on the pipe, makes the pipe side
// nonblocking; SPLICE_F_MOVE, SPLICE_F_MORE and SPLICE_F_GIFT are hints.
func sysSplice(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	inFD, inOffAddr, outFD, outOffAddr := int32(a[0]), uintptr(a[1]), int32(a[2]), uintptr(a[3])
	count, flags := clampCount(a[4]), uint32(a[5])
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	in, err := fileOf(t, inFD)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := fileOf(t, outFD)
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || !out.IsWritable() {
		return 0, unix.EBADF
	}
	ip, op := sentryPipe(in), sentryPipe(out)
	inPipe, inOK := ip != nil, true
	if ip == nil {
		inPipe, inOK = spliceKind(t, in)
	}
	outPipe, outOK := op != nil, true
	if op == nil {
		outPipe, outOK = spliceKind(t, out)
	}
	if (inPipe && inOffAddr != 0) || (outPipe && outOffAddr != 0) {
		return 0, unix.ESPIPE
	}
	if !inPipe && !outPipe {
		return 0, unix.EINVAL
	}
	var inOff, outOff int64 = -1, -1
	if inOffAddr != 0 {
		if inOff, err = getInt64(t, inOffAddr); err != nil {
			return 0, err
		}
		if !in.Seekable() || inOff < 0 {
			return 0, unix.EINVAL
		}
	}
	if outOffAddr != 0 {
		if outOff, err = getInt64(t, outOffAddr); err != nil {
			return 0, err
		}
		if !out.Seekable() || outOff < 0 {
			return 0, unix.EINVAL
		}
	}
	if !inOK || !outOK {
		return 0, unix.EINVAL
	}
	if !outPipe && out.StatusFlags()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if ip != nil && ip == op {
		return 0, unix.EINVAL
	}
	if count == 0 {
		return 0, nil
	}
	nonblock := flags&unix.SPLICE_F_NONBLOCK != 0
	read := func(b []byte) (int, error) {
		if inOff < 0 {
			return in.Read(t, b)
		}
		return in.PRead(t, b, inOff)
	}
	write := func(b []byte) (int, error) {
		if outOff < 0 {
			return out.Write(t, b)
		}
		return out.PWrite(t, b, outOff)
	}
	var n int
	switch {
	case ip != nil && op != nil:
		nb := nonblock || (in.StatusFlags()|out.StatusFlags())&unix.O_NONBLOCK != 0
		n, err = pipe.Splice(t, ip, op, count, nb, true)
	case ip != nil:
		nb := nonblock || in.StatusFlags()&unix.O_NONBLOCK != 0
		n, err = ip.SpliceFrom(t, count, nb, write)
	case op != nil:
		nb := nonblock || out.StatusFlags()&unix.O_NONBLOCK != 0
		n, err = op.SpliceTo(t, count, nb, read)
	default:
		// A host pipe on one side: one read, then write it all.
		buf, pooled := ioBuf(count)
		defer putIOBuf(pooled)
		m, rerr := read(buf)
		if m == 0 {
			n, err = 0, rerr
			break
		}
		for n < m {
			w, werr := write(buf[n:m])
			n += w
			if werr != nil {
				if n == 0 {
					err = werr
				}
				break
			}
		}
	}
	if err == unix.EPIPE {
		sendSIGPIPE(t)
	}
	if n > 0 {
		if inOffAddr != 0 {
			putInt64(t, inOffAddr, inOff+int64(n))
		}
		if outOffAddr != 0 {
			putInt64(t, outOffAddr, outOff+int64(n))
		}
	}
	return uintptr(n), err
}

// sysTee implements tee(2): both files must be Sentry pipes, and differ
// (EINVAL); the data stays in the input pipe.
func sysTee(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	count, flags := clampCount(a[2]), uint32(a[3])
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	in, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := fileOf(t, int32(a[1]))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || !out.IsWritable() {
		return 0, unix.EBADF
	}
	ip, op := sentryPipe(in), sentryPipe(out)
	if ip == nil || op == nil || ip == op {
		return 0, unix.EINVAL
	}
	if count == 0 {
		return 0, nil
	}
	nb := flags&unix.SPLICE_F_NONBLOCK != 0 || (in.StatusFlags()|out.StatusFlags())&unix.O_NONBLOCK != 0
	n, err := pipe.Splice(t, ip, op, count, nb, false)
	if err == unix.EPIPE {
		sendSIGPIPE(t)
	}
	return uintptr(n), err
}

// sysVmsplice implements vmsplice(2): into a pipe open for writing, or out
// of one open for reading (into the iovecs), like writev/readv with
// SPLICE_F_NONBLOCK (or O_NONBLOCK) making it nonblocking. A file that is
// not a pipe gives EBADF.
func sysVmsplice(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	flags := uint32(a[3])
	if flags&^spliceFlags != 0 {
		return 0, unix.EINVAL
	}
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	segs, err := copyInIovecs(t, uintptr(a[1]), uint64(a[2]))
	if err != nil {
		return 0, err
	}
	p := sentryPipe(f)
	if p == nil {
		if isPipe, _ := spliceKind(t, f); !isPipe {
			return 0, unix.EBADF
		}
	}
	nb := flags&unix.SPLICE_F_NONBLOCK != 0 || f.StatusFlags()&unix.O_NONBLOCK != 0
	switch {
	case f.IsWritable():
		n, err := writeFrom(t, segs, func(b []byte, _ int64) (int, error) {
			if p == nil {
				return f.Write(t, b)
			}
			return p.WriteNonblock(t, b, nb)
		})
		if err == unix.EPIPE {
			sendSIGPIPE(t)
		}
		if n > 0 {
			f.NotifyModify()
		}
		return n, err
	case f.IsReadable():
		n, err := readInto(t, segs, true, func(b []byte, _ int64) (int, error) {
			if p == nil {
				return f.Read(t, b)
			}
			return p.ReadNonblock(t, b, nb)
		})
		if n > 0 {
			f.NotifyAccess()
		}
		return n, err
	}
	return 0, unix.EBADF
}
