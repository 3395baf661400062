package boot

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootContext is the vfs.Context for work the Sentry does on its own
// behalf while setting up (mounting, looking up the program), as root.
type bootContext struct{}

func (bootContext) Block(ch <-chan struct{}) error { <-ch; return nil }

func (bootContext) BlockTimeout(ch <-chan struct{}, d time.Duration) error {
	if d < 0 {
		<-ch
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return unix.ETIMEDOUT
	}
}

func (bootContext) FSUID() uint32    { return 0 }
func (bootContext) FSGID() uint32    { return 0 }
func (bootContext) ProcessID() int32 { return 1 }
