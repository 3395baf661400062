package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestValidDeadline(t *testing.T) {
	for _, c := range []struct {
		runtime, deadline, period uint64
		ok                        bool
	}{
		{1_000_000, 2_000_000, 3_000_000, true},
		{1_000_000, 2_000_000, 0, true}, // period defaults to the deadline
		{512, 2_000_000, 3_000_000, false},
		{3_000_000, 2_000_000, 3_000_000, false},
		{1_000_000, 0, 3_000_000, false},
		{1_000, 2_000, 50_000, false}, // period below 100 us
		{1_000_000, 2_000_000, 5_000_000_000, false},
	} {
		if got := validDeadline(c.runtime, c.deadline, c.period); got != c.ok {
			t.Errorf("validDeadline(%d, %d, %d) = %v", c.runtime, c.deadline, c.period, got)
		}
	}
}

func TestSchedResetOnFork(t *testing.T) {
	s := schedState{policy: SchedFIFO, priority: 10, nice: -5, resetOnFork: true, affinity: []uint64{1}}
	c := s.forkCopy()
	if c.policy != SchedOther || c.priority != 0 || c.nice != 0 || c.resetOnFork {
		t.Fatalf("reset-on-fork child: %+v", c)
	}
	c.affinity[0] = 2
	if s.affinity[0] != 1 {
		t.Fatal("the child's affinity mask aliases the parent's")
	}
	s.resetOnFork = false
	if c := s.forkCopy(); c.policy != SchedFIFO || c.priority != 10 || c.nice != -5 {
		t.Fatalf("child without reset-on-fork: %+v", c)
	}
}

func TestSchedPermissions(t *testing.T) {
	h := newHarness(t)
	it := h.startInit()
	c := h.fork(it)
	// Root may do anything.
	if err := it.SetSchedAttr(c, SchedAttr{Policy: SchedFIFO, Priority: 50}); err != nil {
		t.Fatalf("root SCHED_FIFO: %v", err)
	}
	if p, prio := c.SchedPolicy(); p != SchedFIFO || prio != 50 || c.StatPriority() != -51 {
		t.Fatalf("policy %d priority %d stat %d", p, prio, c.StatPriority())
	}
	for _, bad := range []SchedAttr{{Policy: SchedFIFO}, {Policy: SchedOther, Priority: 1}, {Policy: 9}, {Policy: SchedOther, Flags: 0x100}} {
		if err := it.SetSchedAttr(c, bad); err != unix.EINVAL {
			t.Errorf("SetSchedAttr(%+v) = %v, want EINVAL", bad, err)
		}
	}
	// A user without CAP_SYS_NICE.
	u := h.fork(it)
	h.do(u, func(t *Task) { t.SetRESUID(1000, 1000, 1000) })
	if err := u.SetNice(u, 5); err != nil || u.Nice() != 5 || u.StatPriority() != 25 {
		t.Fatalf("raise nice: %v, nice %d", err, u.Nice())
	}
	if err := u.SetNice(u, 1); err != unix.EACCES {
		t.Fatalf("lower nice: %v, want EACCES", err)
	}
	if err := u.SetNice(it, 1); err != unix.EPERM {
		t.Fatalf("renice root: %v, want EPERM", err)
	}
	if err := u.SetSchedAttr(u, SchedAttr{Policy: SchedRR, Priority: 1}); err != unix.EPERM {
		t.Fatalf("user SCHED_RR: %v, want EPERM", err)
	}
	if err := u.SetAffinity(u, []uint64{0}); err != unix.EINVAL {
		t.Fatalf("empty affinity: %v, want EINVAL", err)
	}
	if err := u.SetAffinity(u, []uint64{1}); err != nil || u.CPU() != 0 {
		t.Fatalf("affinity CPU 0: %v, cpu %d", err, u.CPU())
	}
}
