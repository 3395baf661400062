package kernel

// What pidfd_open(2) files need of the kernel.

// Reaped reports whether the process has exited and been waited for (its
// pid is free).
func (tg *ThreadGroup) Reaped() bool {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.reaped
}

// MayAttach reports whether t may act on tg as ptrace(2) attach would
// allow (ptrace_may_access with PTRACE_MODE_ATTACH_REALCREDS, as
// pidfd_getfd(2) requires): PtraceMayAccess and Yama's ptrace_scope.
func (t *Task) MayAttach(tg *ThreadGroup) bool {
	if tg == t.tg {
		return true
	}
	t.k.mu.Lock()
	target := tg.anyTaskLocked()
	t.k.mu.Unlock()
	if target == nil {
		return false
	}
	return t.PtraceMayAttach(target) == nil
}

// LiveTask returns the process's leader or another live thread (nil once
// it has exited), for pidfd_getfd's descriptor table.
func (tg *ThreadGroup) LiveTask() *Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.anyTaskLocked()
}
