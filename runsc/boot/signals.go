package boot

import (
	"os"
	"os/signal"

	"github.com/veil-sandbox/veil/runsc/control"
	"golang.org/x/sys/unix"
)

// forwardSignals passes signals sent to the Sentry process on to the
// sandbox, as runc forwards them to the container's init. When the first
// process has a terminal, the Sentry holds it as its own controlling
// terminal on the host, so the host's line discipline signals ^C, ^\, ^Z
// and window size changes to the Sentry: those go to the terminal's
// foreground process group, the rest to the first process.
func forwardSignals(cs *controlServer) {
	ch := make(chan os.Signal, 16)
	sigs := []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}
	if cs.initTTY != nil {
		// Caught so that the Sentry itself never stops or ignores them.
		sigs = append(sigs, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGWINCH)
	}
	signal.Notify(ch, sigs...)
	go func() {
		for s := range ch {
			sig := s.(unix.Signal)
			if cs.initTTY != nil {
				switch sig {
				case unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH:
					cs.initTTY.SignalForeground(sig)
					continue
				case unix.SIGTTIN, unix.SIGTTOU:
					continue
				}
			}
			cs.signal(&control.Request{Signal: int(sig)})
		}
	}()
}
