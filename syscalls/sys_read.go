package syscalls

import (
	"encoding/binary"
	"sync"

	"github.com/veil-sandbox/veil/sentry/arch"
	"github.com/veil-sandbox/veil/sentry/kernel"
	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// The read/write family. Data moves between application memory and files
// through a bounded Sentry buffer (at most rwChunk bytes at a time), never
// through a buffer of the requested size.

func init() {
	register(unix.SYS_READ, "read", sysRead, FD, Hex, Int)
	register(unix.SYS_WRITE, "write", sysWrite, FD, Buf, Int)
	register(unix.SYS_PREAD64, "pread64", sysPread64, FD, Hex, Int, Int)
	register(unix.SYS_PWRITE64, "pwrite64", sysPwrite64, FD, Buf, Int, Int)
	register(unix.SYS_READV, "readv", sysReadv, FD, Hex, Int)
	register(unix.SYS_WRITEV, "writev", sysWritev, FD, Hex, Int)
	register(unix.SYS_PREADV, "preadv", sysPreadv, FD, Hex, Int, Int)
	register(unix.SYS_PWRITEV, "pwritev", sysPwritev, FD, Hex, Int, Int)
	register(unix.SYS_PREADV2, "preadv2", sysPreadv2, FD, Hex, Int, Int, Int, Hex).partial("RWF_* flags: EOPNOTSUPP")
	register(unix.SYS_PWRITEV2, "pwritev2", sysPwritev2, FD, Hex, Int, Int, Int, Hex).partial("RWF_* flags: EOPNOTSUPP")
	register(unix.SYS_LSEEK, "lseek", sysLseek, FD, Int, Int)
	register(unix.SYS_SENDFILE, "sendfile", sysSendfile, FD, FD, Hex, Int)
	register(unix.SYS_COPY_FILE_RANGE, "copy_file_range", sysCopyFileRange, FD, Hex, FD, Hex, Int, Hex)
}

const (
	// maxRWCount is Linux's MAX_RW_COUNT: larger counts are clamped.
	maxRWCount = 0x7ffff000
	// rwChunk bounds the Sentry buffer of one read or write step.
	rwChunk = 1 << 20
	// iovMax is IOV_MAX.
	iovMax = 1024
)

// Sentry buffers for read and write steps come from two pools, so that
// neither a small transfer nor a large one allocates. (A fresh buffer per
// 4 KiB pread kept the garbage collector busy on the CPU where the
// application thread spins for the Sentry's answer, and a fifth of the
// answers then found it asleep.) A pooled buffer holds an earlier call's
// bytes: callers pass on only what they read or gathered into it.
const smallIOBuf = 64 << 10

var (
	smallIOBufs = sync.Pool{New: func() any { b := make([]byte, smallIOBuf); return &b }}
	chunkIOBufs = sync.Pool{New: func() any { b := make([]byte, rwChunk); return &b }}
)

// ioBuf returns a buffer of min(n, rwChunk) bytes and the pooled slice
// to give back with putIOBuf.
func ioBuf(n int) ([]byte, *[]byte) {
	pool := &chunkIOBufs
	if n <= smallIOBuf {
		pool = &smallIOBufs
	}
	p := pool.Get().(*[]byte)
	return (*p)[:min(n, len(*p))], p
}

// putIOBuf returns a buffer from ioBuf to its pool.
func putIOBuf(p *[]byte) {
	if len(*p) == smallIOBuf {
		smallIOBufs.Put(p)
	} else {
		chunkIOBufs.Put(p)
	}
}

// seg is one application buffer (an iovec).
type seg struct {
	addr uintptr
	n    int
}

func totalLen(segs []seg) int {
	n := 0
	for _, s := range segs {
		n += s.n
	}
	return n
}

// readInto reads into the application buffers segs with read (which reads
// at the file position or at an offset advanced by the bytes done). Files
// without a position (stream) are read once, so a pipe or terminal never
// blocks after some data has arrived.
func readInto(t *kernel.Task, segs []seg, stream bool, read func(b []byte, done int64) (int, error)) (uintptr, error) {
	total := totalLen(segs)
	if total == 0 {
		_, err := read(nil, 0)
		return 0, err
	}
	buf, pooled := ioBuf(total)
	defer putIOBuf(pooled)
	done := 0
	si, so := 0, 0 // current segment and offset in it
	for done < total {
		chunk := buf[:min(len(buf), total-done)]
		n, err := read(chunk, int64(done))
		// Scatter.
		for k := 0; k < n; {
			for segs[si].n-so == 0 {
				si, so = si+1, 0
			}
			c := min(n-k, segs[si].n-so)
			if cerr := t.CopyOut(segs[si].addr+uintptr(so), chunk[k:k+c]); cerr != nil {
				if done+k > 0 {
					return uintptr(done + k), nil
				}
				return 0, unix.EFAULT
			}
			k += c
			so += c
		}
		done += n
		if err != nil {
			if done > 0 {
				return uintptr(done), nil
			}
			return 0, err
		}
		if n < len(chunk) || stream {
			break
		}
	}
	return uintptr(done), nil
}

// writeFrom writes the application buffers segs with write.
func writeFrom(t *kernel.Task, segs []seg, write func(b []byte, done int64) (int, error)) (uintptr, error) {
	total := totalLen(segs)
	if total == 0 {
		_, err := write(nil, 0)
		return 0, err
	}
	buf, pooled := ioBuf(total)
	defer putIOBuf(pooled)
	done := 0
	si, so := 0, 0
	for done < total {
		chunk := buf[:min(len(buf), total-done)]
		// Gather.
		for k := 0; k < len(chunk); {
			for segs[si].n-so == 0 {
				si, so = si+1, 0
			}
			c := min(len(chunk)-k, segs[si].n-so)
			if err := t.CopyIn(segs[si].addr+uintptr(so), chunk[k:k+c]); err != nil {
				if k == 0 {
					if done > 0 {
						return uintptr(done), nil
					}
					return 0, unix.EFAULT
				}
				chunk = chunk[:k]
				break
			}
			k += c
			so += c
		}
		n, err := write(chunk, int64(done))
		done += n
		if err != nil {
			if done > 0 {
				return uintptr(done), nil
			}
			return 0, err
		}
		if n < len(chunk) {
			break
		}
	}
	return uintptr(done), nil
}

func clampCount(n uint64) int {
	if n > maxRWCount {
		return maxRWCount
	}
	return int(n)
}

// copyInIovecs reads an iovec array, clamping the total to MAX_RW_COUNT
// (EINVAL for a count over IOV_MAX or a negative length).
func copyInIovecs(t *kernel.Task, addr uintptr, cnt uint64) ([]seg, error) {
	if cnt > iovMax {
		return nil, unix.EINVAL
	}
	if cnt == 0 {
		return nil, nil
	}
	raw := make([]byte, 16*cnt)
	if err := t.CopyIn(addr, raw); err != nil {
		return nil, unix.EFAULT
	}
	segs := make([]seg, 0, cnt)
	total := 0
	for i := uint64(0); i < cnt; i++ {
		base := binary.LittleEndian.Uint64(raw[16*i:])
		l := binary.LittleEndian.Uint64(raw[16*i+8:])
		if int64(l) < 0 {
			return nil, unix.EINVAL
		}
		n := int(min(l, uint64(maxRWCount-total)))
		total += n
		segs = append(segs, seg{uintptr(base), n})
	}
	return segs, nil
}

// readFile reads segs from f at its position (off < 0) or at off.
func readFile(t *kernel.Task, f *vfs.FileDescription, segs []seg, off int64) (uintptr, error) {
	if !f.IsReadable() {
		return 0, unix.EBADF
	}
	if off >= 0 {
		if !f.Seekable() {
			return 0, unix.ESPIPE
		}
		return readInto(t, segs, false, func(b []byte, done int64) (int, error) {
			return f.PRead(t, b, off+done)
		})
	}
	return readInto(t, segs, !f.Seekable(), func(b []byte, _ int64) (int, error) {
		return f.Read(t, b)
	})
}

// writeFile writes segs to f at its position (off < 0) or at off. A write
// failing with EPIPE (a pipe without readers) also sends SIGPIPE to the
// writing thread, as Linux does; sockets send it themselves, only where
// Linux's protocol code does (a stream, not a datagram socket).
func writeFile(t *kernel.Task, f *vfs.FileDescription, segs []seg, off int64) (uintptr, error) {
	n, err := writeFileNoSig(t, f, segs, off)
	if err == unix.EPIPE && !isSocket(f) {
		sendSIGPIPE(t)
	}
	return n, err
}

// sendSIGPIPE sends SIGPIPE to t (si_code SI_USER from itself).
func sendSIGPIPE(t *kernel.Task) {
	info := &arch.SignalInfo{Signo: int32(unix.SIGPIPE)}
	// Its own pid and uid, as its namespaces see them.
	info.SetPID(int32(t.PID()))
	info.SetUID(t.UserNamespace().ViewUID(t.Credentials().UID))
	t.Kernel().SendThreadSignal(t, info)
}

func writeFileNoSig(t *kernel.Task, f *vfs.FileDescription, segs []seg, off int64) (uintptr, error) {
	if !f.IsWritable() {
		return 0, unix.EBADF
	}
	if off >= 0 {
		if !f.Seekable() {
			return 0, unix.ESPIPE
		}
		return writeFrom(t, segs, func(b []byte, done int64) (int, error) {
			return f.PWrite(t, b, off+done)
		})
	}
	return writeFrom(t, segs, func(b []byte, _ int64) (int, error) {
		return f.Write(t, b)
	})
}

func sysRead(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return readFile(t, f, []seg{{uintptr(a[1]), clampCount(a[2])}}, -1)
}

func sysWrite(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return writeFile(t, f, []seg{{uintptr(a[1]), clampCount(a[2])}}, -1)
}

func sysPread64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off := int64(a[3])
	if off < 0 {
		return 0, unix.EINVAL
	}
	return readFile(t, f, []seg{{uintptr(a[1]), clampCount(a[2])}}, off)
}

func sysPwrite64(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off := int64(a[3])
	if off < 0 {
		return 0, unix.EINVAL
	}
	return writeFile(t, f, []seg{{uintptr(a[1]), clampCount(a[2])}}, off)
}

// vectored implements the readv/writev family: off < 0 uses the position
// (only allowed when posOK).
func vectored(t *kernel.Task, fd int32, iov uintptr, cnt uint64, off int64, write, posOK bool) (uintptr, error) {
	f, err := fileOf(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if write && !f.IsWritable() || !write && !f.IsReadable() {
		return 0, unix.EBADF
	}
	if off < 0 && !posOK {
		return 0, unix.EINVAL
	}
	segs, err := copyInIovecs(t, iov, cnt)
	if err != nil {
		return 0, err
	}
	if write {
		return writeFile(t, f, segs, off)
	}
	return readFile(t, f, segs, off)
}

func sysReadv(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], -1, false, true)
}

func sysWritev(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], -1, true, true)
}

func sysPreadv(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], int64(a[3]), false, false)
}

func sysPwritev(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], int64(a[3]), true, false)
}

// sysPreadv2 implements preadv2(2): offset -1 means the file position;
// only flags 0 is supported (EOPNOTSUPP otherwise).
func sysPreadv2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[5] != 0 {
		return 0, unsupported(t, "preadv2(flags)", unix.EOPNOTSUPP)
	}
	off := int64(a[3])
	if off < -1 {
		return 0, unix.EINVAL
	}
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], off, false, true)
}

func sysPwritev2(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[5] != 0 {
		return 0, unsupported(t, "pwritev2(flags)", unix.EOPNOTSUPP)
	}
	off := int64(a[3])
	if off < -1 {
		return 0, unix.EINVAL
	}
	return vectored(t, int32(a[0]), uintptr(a[1]), a[2], off, true, true)
}

func sysLseek(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	f, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	off, err := f.Seek(t, int64(a[1]), int(int32(a[2])))
	return uintptr(off), err
}

// copyLoop moves up to count bytes from read to write through a bounded
// buffer, stopping at end of input or a short write. It returns the bytes
// written.
func copyLoop(count int64, read func(b []byte) (int, error), write func(b []byte) (int, error)) (int64, error) {
	buf, pooled := ioBuf(int(min(count, rwChunk)))
	defer putIOBuf(pooled)
	var done int64
	for done < count {
		chunk := buf[:min(int64(len(buf)), count-done)]
		n, err := read(chunk)
		if n == 0 || err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		w, err := write(chunk[:n])
		done += int64(w)
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, err
		}
		if w < n || n < len(chunk) {
			break
		}
	}
	return done, nil
}

func getInt64(t *kernel.Task, addr uintptr) (int64, error) {
	var b [8]byte
	if err := t.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b[:])), nil
}

func putInt64(t *kernel.Task, addr uintptr, v int64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return t.CopyOut(addr, b[:])
}

// sysSendfile implements sendfile(2) with a read/write loop.
func sysSendfile(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	out, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	in, err := fileOf(t, int32(a[1]))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	offAddr := uintptr(a[2])
	count := int64(clampCount(a[3]))
	if !in.IsReadable() || !out.IsWritable() {
		return 0, unix.EBADF
	}
	if out.StatusFlags()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if in.IsDir() {
		return 0, unix.EISDIR
	}
	if !in.Seekable() {
		return 0, unix.EINVAL
	}
	write := func(b []byte) (int, error) {
		n, err := out.Write(t, b)
		if err == unix.EPIPE && !isSocket(out) {
			sendSIGPIPE(t)
		}
		return n, err
	}
	var off int64
	if offAddr == 0 {
		off = in.Offset()
	} else {
		if off, err = getInt64(t, offAddr); err != nil {
			return 0, err
		}
		if off < 0 {
			return 0, unix.EINVAL
		}
	}
	pos := off
	n, err := copyLoop(count, func(b []byte) (int, error) {
		m, err := in.PRead(t, b, pos)
		pos += int64(m)
		return m, err
	}, write)
	// Only what was written counts as consumed from the input.
	if offAddr == 0 {
		if n > 0 {
			in.Seek(t, off+n, unix.SEEK_SET)
		}
	} else if perr := putInt64(t, offAddr, off+n); perr != nil && err == nil {
		err = perr
	}
	return uintptr(n), err
}

// sysCopyFileRange implements copy_file_range(2) with a read/write loop
// between regular files of one filesystem (flags must be 0; EXDEV across
// filesystems, as Linux since 5.19).
func sysCopyFileRange(t *kernel.Task, a arch.SyscallArgs) (uintptr, error) {
	if a[5] != 0 {
		return 0, unix.EINVAL
	}
	in, err := fileOf(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := fileOf(t, int32(a[2]))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || !out.IsWritable() || out.StatusFlags()&unix.O_APPEND != 0 {
		return 0, unix.EBADF
	}
	if in.IsDir() || out.IsDir() {
		return 0, unix.EISDIR
	}
	ist, err := in.Stat(t)
	if err != nil {
		return 0, err
	}
	ost, err := out.Stat(t)
	if err != nil {
		return 0, err
	}
	if ist.Mode&unix.S_IFMT != unix.S_IFREG || ost.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	if ist.Dev != ost.Dev {
		// Linux (5.19 on) copies only within one filesystem (or between
		// filesystems sharing a copy_file_range implementation); cp and
		// others fall back to read and write.
		return 0, unix.EXDEV
	}
	count := int64(clampCount(a[4]))
	inOffAddr, outOffAddr := uintptr(a[1]), uintptr(a[3])
	var inOff, outOff int64 = -1, -1
	if inOffAddr != 0 {
		if inOff, err = getInt64(t, inOffAddr); err != nil {
			return 0, err
		}
		if inOff < 0 {
			return 0, unix.EINVAL
		}
	}
	if outOffAddr != 0 {
		if outOff, err = getInt64(t, outOffAddr); err != nil {
			return 0, err
		}
		if outOff < 0 {
			return 0, unix.EINVAL
		}
	}
	if in.Inode() == out.Inode() {
		ip, op := inOff, outOff
		if ip < 0 {
			ip = in.Offset()
		}
		if op < 0 {
			op = out.Offset()
		}
		if ip < op+count && op < ip+count {
			return 0, unix.EINVAL
		}
	}
	ipos, opos := inOff, outOff
	n, err := copyLoop(count, func(b []byte) (int, error) {
		if inOff < 0 {
			return in.Read(t, b)
		}
		m, err := in.PRead(t, b, ipos)
		ipos += int64(m)
		return m, err
	}, func(b []byte) (int, error) {
		if outOff < 0 {
			return out.Write(t, b)
		}
		m, err := out.PWrite(t, b, opos)
		opos += int64(m)
		return m, err
	})
	if inOffAddr != 0 && n > 0 {
		putInt64(t, inOffAddr, inOff+n)
	}
	if outOffAddr != 0 && n > 0 {
		putInt64(t, outOffAddr, outOff+n)
	}
	return uintptr(n), err
}
