package kernel

import (
	"time"

	"github.com/veil-sandbox/veil/sentry/arch"
	"golang.org/x/sys/unix"
)

// itimer is the state of ITIMER_REAL.
type itimer struct {
	interval time.Duration
	deadline time.Time // zero when disarmed
}

// BootTime is when the kernel started.
func (k *Kernel) BootTime() time.Time { return k.boot }

// ITimerReal returns the interval and time left of ITIMER_REAL.
func (tg *ThreadGroup) ITimerReal() (interval, value time.Duration) {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.itimerLocked()
}

func (tg *ThreadGroup) itimerLocked() (time.Duration, time.Duration) {
	v := tg.itimerVal
	if v.deadline.IsZero() {
		return v.interval, 0
	}
	left := time.Until(v.deadline)
	if left <= 0 {
		left = time.Microsecond
	}
	return v.interval, left
}

// SetITimerReal arms (value > 0) or disarms ITIMER_REAL and returns the
// old setting. Expiry sends SIGALRM to the process.
func (tg *ThreadGroup) SetITimerReal(interval, value time.Duration) (time.Duration, time.Duration) {
	k := tg.k
	k.mu.Lock()
	defer k.mu.Unlock()
	oldI, oldV := tg.itimerLocked()
	if tg.itimerReal != nil {
		tg.itimerReal.Stop()
		tg.itimerReal = nil
	}
	tg.itimerVal = itimer{interval: interval}
	if value > 0 {
		tg.armLocked(value)
	}
	return oldI, oldV
}

func (tg *ThreadGroup) armLocked(d time.Duration) {
	tg.itimerVal.deadline = time.Now().Add(d)
	var tm *time.Timer
	tm = time.AfterFunc(d, func() {
		k := tg.k
		k.mu.Lock()
		defer k.mu.Unlock()
		if tg.itimerReal != tm {
			return // re-armed or disarmed meanwhile
		}
		info := &arch.SignalInfo{Signo: int32(unix.SIGALRM), Code: 0x80 /* SI_KERNEL */}
		k.sendLocked(tg, nil, info)
		tg.itimerReal = nil
		tg.itimerVal.deadline = time.Time{}
		if tg.itimerVal.interval > 0 && !tg.zombie {
			tg.armLocked(tg.itimerVal.interval)
		}
	})
	tg.itimerReal = tm
}
