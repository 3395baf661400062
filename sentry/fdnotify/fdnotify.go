// Package fdnotify turns the readiness of host file descriptors into
// waiter.Queue notifications: one host epoll instance (edge-triggered) and
// one goroutine for every host descriptor the Sentry waits on (host
// stdio and terminals in sentry/fs/host, host sockets in
// sentry/socket/hostinet).
package fdnotify

import (
	"sync"

	"github.com/veil-sandbox/veil/sentry/waiter"
	"golang.org/x/sys/unix"
)

// events are the readiness bits passed on to queues.
const events = waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp | waiter.EventPri | waiter.EventRdHUp

var notifier struct {
	once sync.Once
	epfd int
	err  error
	mu   sync.Mutex
	qs   map[int32]*waiter.Queue
}

func start() error {
	notifier.once.Do(func() {
		notifier.epfd, notifier.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if notifier.err != nil {
			return
		}
		notifier.qs = make(map[int32]*waiter.Queue)
		go loop()
	})
	return notifier.err
}

// Add starts telling q about fd's readiness. An error (EPERM for regular
// files, which epoll refuses) means fd cannot be watched: such a file is
// always ready. Call Remove before closing fd.
func Add(fd int, q *waiter.Queue) error {
	if err := start(); err != nil {
		return err
	}
	notifier.mu.Lock()
	defer notifier.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(notifier.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	notifier.qs[int32(fd)] = q
	return nil
}

// Remove stops watching fd.
func Remove(fd int) {
	notifier.mu.Lock()
	defer notifier.mu.Unlock()
	unix.EpollCtl(notifier.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	delete(notifier.qs, int32(fd))
}

// Poll returns which of mask's events fd has now (a ppoll that does not
// wait), for Readiness of a host-backed file.
func Poll(fd int, mask waiter.EventMask) waiter.EventMask {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: int16(mask)}}
	for {
		n, err := unix.Ppoll(pfd, &unix.Timespec{}, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0
		}
		// POLLERR and POLLHUP are reported whatever was asked.
		return waiter.EventMask(uint16(pfd[0].Revents)) & (mask | waiter.EventErr | waiter.EventHUp)
	}
}

func loop() {
	evs := make([]unix.EpollEvent, 64)
	for {
		k, err := unix.EpollWait(notifier.epfd, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range evs[:k] {
			notifier.mu.Lock()
			q := notifier.qs[ev.Fd]
			notifier.mu.Unlock()
			if q != nil {
				q.Notify(waiter.EventMask(ev.Events) & events)
			}
		}
	}
}
