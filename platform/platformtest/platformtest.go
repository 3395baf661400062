// Package platformtest has test doubles of the platform for packages that
// need address spaces and contexts but never run application code.
package platformtest

import (
	"sync"

	"github.com/veil-sandbox/veil/platform"
	"github.com/veil-sandbox/veil/sentry/arch"
)

// MaxUserAddress is what the ptrace platform reports.
const MaxUserAddress = 0x7ffe00000000

// Platform hands out AddressSpaces and, unless NewContextFunc says
// otherwise, idle Contexts.
type Platform struct {
	NewContextFunc func() (platform.Context, error)
	// Multi makes its address spaces MultiAddressSpaces.
	Multi bool
}

// NewAddressSpace implements platform.Platform.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	if p.Multi {
		return &MultiAddressSpace{}, nil
	}
	return &AddressSpace{}, nil
}

// NewContext implements platform.Platform.
func (p *Platform) NewContext() (platform.Context, error) {
	if p.NewContextFunc != nil {
		return p.NewContextFunc()
	}
	return NewContext(), nil
}

// MaxUserAddress implements platform.Platform.
func (p *Platform) MaxUserAddress() uintptr { return MaxUserAddress }

const pageSize = 4096

// AddressSpace records which pages are mapped, with what access, and how
// many Unmap calls it got.
type AddressSpace struct {
	mu     sync.Mutex
	maps   map[uintptr]platform.AccessType
	unmaps int
}

// MapFile implements platform.AddressSpace.
func (a *AddressSpace) MapFile(addr uintptr, fd int, off int64, length uintptr, at platform.AccessType) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maps == nil {
		a.maps = make(map[uintptr]platform.AccessType)
	}
	for p := addr; p < addr+length; p += pageSize {
		a.maps[p] = at
	}
	return nil
}

// Unmap implements platform.AddressSpace.
func (a *AddressSpace) Unmap(addr, length uintptr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unmaps++
	for p := range a.maps {
		if p >= addr && p < addr+length {
			delete(a.maps, p)
		}
	}
}

// Release implements platform.AddressSpace.
func (a *AddressSpace) Release() {}

// MultiAddressSpace is an AddressSpace that is a platform.MultiMapper and
// counts the platform calls that map memory.
type MultiAddressSpace struct {
	AddressSpace
	calls int
}

// MapFile implements platform.AddressSpace.
func (a *MultiAddressSpace) MapFile(addr uintptr, fd int, off int64, length uintptr, at platform.AccessType) error {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	return a.AddressSpace.MapFile(addr, fd, off, length, at)
}

// MapFiles implements platform.MultiMapper.
func (a *MultiAddressSpace) MapFiles(fd int, ms []platform.Mapping) error {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	for _, m := range ms {
		a.AddressSpace.MapFile(m.Addr, fd, m.Off, m.Length, m.Access)
	}
	return nil
}

// MapCalls returns how many MapFile and MapFiles calls a got.
func (a *MultiAddressSpace) MapCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// Mapped returns the access page is mapped with, and whether it is.
func (a *AddressSpace) Mapped(page uintptr) (platform.AccessType, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.maps[page]
	return at, ok
}

// Unmaps returns how many Unmap calls were made.
func (a *AddressSpace) Unmaps() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unmaps
}

// Context is a thread that never runs: Switch waits until Interrupt.
type Context struct{ intr chan struct{} }

// NewContext returns an idle Context.
func NewContext() *Context { return &Context{intr: make(chan struct{}, 1)} }

// Switch implements platform.Context.
func (c *Context) Switch(platform.AddressSpace, *arch.Registers) (platform.Trap, error) {
	<-c.intr
	return platform.Trap{}, platform.ErrInterrupted
}

// Interrupt implements platform.Context.
func (c *Context) Interrupt() {
	select {
	case c.intr <- struct{}{}:
	default:
	}
}

// FPState implements platform.Context: a zeroed legacy area.
func (c *Context) FPState() (arch.FPState, error) { return make(arch.FPState, 512), nil }

// SetFPState implements platform.Context.
func (c *Context) SetFPState(arch.FPState) error { return nil }

// Release implements platform.Context.
func (c *Context) Release() {}
