// Package vfstest has test doubles for code built on sentry/vfs: a Context
// that blocks on channels without signals, and a UserMemory backed by a
// byte slice.
package vfstest

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/syserr"
	"golang.org/x/sys/unix"
)

// Context implements vfs.Context for tests. The zero value is root (uid 0)
// with pid 1 and is never interrupted.
type Context struct {
	UID, GID uint32
	PID      int32
	Groups   []uint32
	// Interrupt, when closed or sent to, makes a pending Block return
	// syserr.ErrInterrupted (a simulated signal).
	Interrupt chan struct{}
}

// Root returns a context for uid 0.
func Root() *Context { return &Context{PID: 1} }

// User returns a context for an unprivileged uid/gid.
func User(uid, gid uint32) *Context { return &Context{UID: uid, GID: gid, PID: 1} }

// Block implements vfs.Context.
func (c *Context) Block(ch <-chan struct{}) error {
	return c.BlockTimeout(ch, -1)
}

// BlockTimeout implements vfs.Context.
func (c *Context) BlockTimeout(ch <-chan struct{}, d time.Duration) error {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-c.Interrupt:
		return syserr.ErrInterrupted
	case <-timeout:
		return unix.ETIMEDOUT
	}
}

// FSUID implements vfs.Context.
func (c *Context) FSUID() uint32 { return c.UID }

// FSGID implements vfs.Context.
func (c *Context) FSGID() uint32 { return c.GID }

// ProcessID implements vfs.Context.
func (c *Context) ProcessID() int32 { return c.PID }

// InGroup implements vfs.GroupMember.
func (c *Context) InGroup(gid uint32) bool {
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Memory implements vfs.UserMemory over a byte slice whose first byte is
// at address Base.
type Memory struct {
	Base uintptr
	Data []byte
}

// CopyIn implements vfs.UserMemory.
func (m *Memory) CopyIn(addr uintptr, dst []byte) error {
	if addr < m.Base || addr-m.Base+uintptr(len(dst)) > uintptr(len(m.Data)) {
		return unix.EFAULT
	}
	copy(dst, m.Data[addr-m.Base:])
	return nil
}

// CopyOut implements vfs.UserMemory.
func (m *Memory) CopyOut(addr uintptr, src []byte) error {
	if addr < m.Base || addr-m.Base+uintptr(len(src)) > uintptr(len(m.Data)) {
		return unix.EFAULT
	}
	copy(m.Data[addr-m.Base:], src)
	return nil
}
