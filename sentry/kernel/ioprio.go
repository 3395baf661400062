package kernel

// I/O priorities (ioprio_set(2)): the Sentry has no I/O scheduler, so a
// priority is only remembered, per task, and inherited by clone (Linux
// copies the io_context's priority to a child). A task that never set one
// reads 0 (IOPRIO_CLASS_NONE), as Linux 6.x reports.

// IOPrio returns t's I/O priority.
func (t *Task) IOPrio() int32 { return t.ioprio.Load() }

// SetIOPrio sets t's I/O priority (already validated).
func (t *Task) SetIOPrio(p int32) { t.ioprio.Store(p) }

// Tasks returns the live tasks of tg.
func (tg *ThreadGroup) Tasks() []*Task {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	out := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		out = append(out, t)
	}
	return out
}
