package host

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// notifier turns host readiness into waiter.Queue notifications: one host
// epoll instance (edge-triggered) and one goroutine for all host files.
var notifier hostNotifier

type hostNotifier struct {
	once  sync.Once
	epfd  int
	err   error
	mu    sync.Mutex
	files map[int32]*File
}

func (n *hostNotifier) init() {
	n.once.Do(func() {
		n.epfd, n.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if n.err != nil {
			return
		}
		n.files = make(map[int32]*File)
		go n.loop()
	})
}

// add starts watching fd for f; an error (EPERM for regular files) means
// the file is always ready.
func (n *hostNotifier) add(fd int, f *File) error {
	n.init()
	if n.err != nil {
		return n.err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	n.files[int32(fd)] = f
	return nil
}

func (n *hostNotifier) remove(fd int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	unix.EpollCtl(n.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	delete(n.files, int32(fd))
}

func (n *hostNotifier) loop() {
	events := make([]unix.EpollEvent, 16)
	for {
		k, err := unix.EpollWait(n.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:k] {
			n.mu.Lock()
			f := n.files[ev.Fd]
			n.mu.Unlock()
			if f != nil {
				f.q.Notify(waiter.EventMask(ev.Events) & (waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp | waiter.EventPri | waiter.EventRdHUp))
			}
		}
	}
}
