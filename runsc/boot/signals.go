package boot

import (
	"os"
	"os/signal"

	"github.com/veil-sandbox/veil/runsc/control"
	"golang.org/x/sys/unix"
)

// forwardSignals passes signals sent to the Sentry process on to the
// sandbox, as runc forwards them to the container's init. When the first
// process has a host terminal, the Sentry holds it as its own controlling
// terminal on the host, so the host's line discipline signals ^C, ^\, ^Z
// and window size changes to the Sentry: those go to the terminal's
// foreground process group, the rest to the first process. With a
// console (runsc do on a terminal) the keys reach the Sentry's own line
// discipline as bytes; runsc forwards SIGWINCH, which gives the console
// the host terminal's new size.
func forwardSignals(cs *controlServer, con *console) {
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
			if con != nil && sig == unix.SIGWINCH {
				con.resize()
				continue
			}
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
