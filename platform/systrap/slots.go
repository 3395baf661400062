package systrap

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// slotFile is the memfd behind every thread slot of a platform, mapped
// whole (sparse) into the Sentry; slot i lives at offset i*slotSize and is
// mapped at slotAddr(i) in the one stub that owns it.
//
// A slot freed by one stub is reused by another, whose application could
// read whatever the last one left there (registers, FP state), so free
// punches the slot out of the file: the next user starts from zeros.
type slotFile struct {
	fd  int
	mem []byte // the Sentry's mapping of the whole file

	mu   sync.Mutex
	free []int // freed slots, reusable
	next int   // slots [next, maxSlots) were never used
	used atomic.Int32
}

func newSlotFile() (*slotFile, error) {
	fd, err := unix.MemfdCreate("veil-systrap-slots", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	size := int64(maxSlots) * slotSize
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ftruncate slot file: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mapping slot file: %w", err)
	}
	return &slotFile{fd: fd, mem: mem}, nil
}

// alloc returns a slot in its initial state (zeros, state word stateInit).
func (f *slotFile) alloc() (int, error) {
	f.mu.Lock()
	var i int
	switch {
	case len(f.free) > 0:
		i = f.free[len(f.free)-1]
		f.free = f.free[:len(f.free)-1]
	case f.next < maxSlots:
		i = f.next
		f.next++
	default:
		f.mu.Unlock()
		return 0, fmt.Errorf("systrap: all %d thread slots in use", maxSlots)
	}
	f.mu.Unlock()
	f.used.Add(1)
	atomic.StoreUint32(f.state(i), stateInit)
	return i, nil
}

// release returns slots no stub maps any more (their stub is gone).
func (f *slotFile) release(slots []int) {
	for _, i := range slots {
		// Zero the slot: FALLOC_FL_PUNCH_HOLE frees its pages, which
		// then read as zeros (in the Sentry's mapping too).
		unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(i)*slotSize, slotSize)
	}
	f.mu.Lock()
	f.free = append(f.free, slots...)
	f.mu.Unlock()
	f.used.Add(-int32(len(slots)))
}

// bytes returns the Sentry's view of slot i.
func (f *slotFile) bytes(i int) []byte {
	return f.mem[i*slotSize : (i+1)*slotSize : (i+1)*slotSize]
}

// state returns slot i's state word.
func (f *slotFile) state(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&f.mem[i*slotSize+ctxState]))
}

// word loads the 64-bit context field at off of slot i. The application
// can write it at any time: callers must treat the value as untrusted.
func (f *slotFile) word(i int, off int) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&f.mem[i*slotSize+off])))
}

// setWord stores the 64-bit context field at off of slot i.
func (f *slotFile) setWord(i int, off int, v uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&f.mem[i*slotSize+off])), v)
}

// setWord32 stores the 32-bit context field at off of slot i.
func (f *slotFile) setWord32(i int, off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&f.mem[i*slotSize+off])), v)
}

// region returns the Sentry's view of [addr, addr+n) of slot i's
// alternate stack, where addr is a stub address found in the slot (so
// untrusted), or nil if that is not entirely inside the alternate stack.
func (f *slotFile) region(i int, addr uint64, n int) []byte {
	lo := uint64(slotAddr(i)) + altStackOff
	hi := uint64(slotAddr(i)) + slotSize
	if addr < lo || addr >= hi || uint64(n) > hi-addr {
		return nil
	}
	off := i*slotSize + int(addr-uint64(slotAddr(i)))
	return f.mem[off : off+n : off+n]
}
