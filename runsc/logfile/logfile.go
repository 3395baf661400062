// Package logfile writes runsc's log: the --log file that container
// engines read after a failed command, in the --log-format they ask for.
// Like runc's, the text format is logrus-style
// (time="..." level=error msg="...") and the json format one object per
// line ({"level":"error","msg":"...","time":"..."}), so containerd's and
// podman's readers of runc errors understand it.
package logfile

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Format is a log format.
type Format string

// Log formats.
const (
	Text Format = "text"
	JSON Format = "json"
)

// ParseFormat checks a --log-format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Text, JSON:
		return Format(s), nil
	case "":
		return Text, nil
	}
	return "", fmt.Errorf("unknown log format %q (want text or json)", s)
}

// Logger writes log entries to one writer.
type Logger struct {
	mu     sync.Mutex
	w      io.Writer
	format Format
	debug  bool
}

// New returns a logger writing to w (nil: discard). Debug entries are
// written only with debug.
func New(w io.Writer, format Format, debug bool) *Logger {
	if w == nil {
		w = io.Discard
	}
	return &Logger{w: w, format: format, debug: debug}
}

// Open opens path for appending (creating it) and returns a logger on it
// and the file.
func Open(path string, format Format, debug bool) (*Logger, *os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("log file: %w", err)
	}
	return New(f, format, debug), f, nil
}

// Format returns the logger's format.
func (l *Logger) Format() Format { return l.format }

// Errorf logs an error.
func (l *Logger) Errorf(format string, args ...any) { l.entry("error", format, args...) }

// Warnf logs a warning.
func (l *Logger) Warnf(format string, args ...any) { l.entry("warning", format, args...) }

// Infof logs an informational message.
func (l *Logger) Infof(format string, args ...any) { l.entry("info", format, args...) }

// Debugf logs a debug message (only with --debug).
func (l *Logger) Debugf(format string, args ...any) {
	if l.debug {
		l.entry("debug", format, args...)
	}
}

func (l *Logger) entry(level, format string, args ...any) {
	if l == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	now := time.Now().Format(time.RFC3339Nano)
	var line []byte
	if l.format == JSON {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
	} else {
		line = []byte("time=" + strconv.Quote(now) + " level=" + level + " msg=" + strconv.Quote(msg))
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(line)
}
