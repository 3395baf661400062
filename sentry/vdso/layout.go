package vdso

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The data page ("[vvar]") layout, struct vvar in csrc/vdso.c (which checks
// these offsets with static assertions):
//
//	0   uint32 seq       latch counter: params[seq&1] are current
//	4   uint32 mode      modeTSC, or modeSyscall: make the system call
//	8   uint64 reserved
//	16  params[2]        32 bytes each:
//	    0  uint64 tscBase   TSC at the anchor
//	    8  uint64 monoBase  CLOCK_MONOTONIC at tscBase (ns)
//	    16 uint64 realBase  CLOCK_REALTIME at tscBase (ns since the epoch)
//	    24 uint64 mult      ns per TSC tick << 32
const (
	offSeq      = 0
	offMode     = 4
	offParams   = 16
	paramsSize  = 32
	offTSCBase  = 0
	offMonoBase = 8
	offRealBase = 16
	offMult     = 24

	modeSyscall = 0
	modeTSC     = 1
)

// multShift is the fixed point of params.mult.
const multShift = 32

// params convert a TSC reading into the two clocks:
//
//	ns = base + ((tsc - tscBase) * mult) >> 32
//
// with a 128-bit product, as csrc/vdso.c computes it. A TSC behind tscBase
// reads as tscBase.
type params struct {
	tscBase  uint64
	monoBase uint64
	realBase uint64
	mult     uint64
}

// elapsed is the time in ns the parameters give from the anchor to tsc.
func (p *params) elapsed(tsc uint64) uint64 {
	if tsc <= p.tscBase {
		return 0
	}
	hi, lo := bits.Mul64(tsc-p.tscBase, p.mult)
	return hi<<(64-multShift) | lo>>multShift
}

// mono is CLOCK_MONOTONIC at tsc.
func (p *params) mono(tsc uint64) uint64 { return p.monoBase + p.elapsed(tsc) }

// real is CLOCK_REALTIME at tsc.
func (p *params) real(tsc uint64) uint64 { return p.realBase + p.elapsed(tsc) }

// dataPage is the Sentry's view of the data page, in the memory file.
type dataPage struct {
	mem []byte // PageSize bytes, page aligned
}

func (d *dataPage) u32(off int) *uint32 { return (*uint32)(unsafe.Pointer(&d.mem[off])) }
func (d *dataPage) u64(off int) *uint64 { return (*uint64)(unsafe.Pointer(&d.mem[off])) }

// setMode switches the vDSO between reading the TSC and making system
// calls.
func (d *dataPage) setMode(mode uint32) { atomic.StoreUint32(d.u32(offMode), mode) }

// publish makes p the current parameters. The slot it writes is the one
// readers are not using; the seq increment (a locked instruction, so the
// slot's stores are visible before it) switches them over. There is one
// writer at a time.
func (d *dataPage) publish(p params) {
	seq := atomic.LoadUint32(d.u32(offSeq))
	slot := offParams + int((seq+1)&1)*paramsSize
	atomic.StoreUint64(d.u64(slot+offTSCBase), p.tscBase)
	atomic.StoreUint64(d.u64(slot+offMonoBase), p.monoBase)
	atomic.StoreUint64(d.u64(slot+offRealBase), p.realBase)
	atomic.StoreUint64(d.u64(slot+offMult), p.mult)
	atomic.StoreUint32(d.u32(offSeq), seq+1)
}

// current returns the mode and the parameters readers use now (for tests
// and for reading the clocks the way the vDSO does).
func (d *dataPage) current() (uint32, params) {
	for {
		seq := atomic.LoadUint32(d.u32(offSeq))
		mode := atomic.LoadUint32(d.u32(offMode))
		slot := offParams + int(seq&1)*paramsSize
		p := params{
			tscBase:  atomic.LoadUint64(d.u64(slot + offTSCBase)),
			monoBase: atomic.LoadUint64(d.u64(slot + offMonoBase)),
			realBase: atomic.LoadUint64(d.u64(slot + offRealBase)),
			mult:     atomic.LoadUint64(d.u64(slot + offMult)),
		}
		if atomic.LoadUint32(d.u32(offSeq)) == seq {
			return mode, p
		}
	}
}
