// Command goclock reads the clock the way Go programs do (time.Now, which
// the runtime serves from the vDSO when there is one) and sleeps. It prints
// the wall clock before and after as "realtime UNIXNANO", the cost of one
// time.Now as "ns_per_now N", and "goclock: ok"; a failed check prints
// "goclock: FAIL ..." on stderr and exits with status 99. Built with
// CGO_ENABLED=0 (tests/vdso_test.go builds it).
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "goclock: FAIL "+format+"\n", args...)
	os.Exit(99)
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n <= 0 {
			fail("bad count %q", os.Args[1])
		}
	}
	start := time.Now()
	prev := start
	for i := 0; i < n; i++ {
		now := time.Now()
		if now.Before(prev) {
			fail("time.Now went back by %v", prev.Sub(now))
		}
		prev = now
	}
	elapsed := time.Since(start)

	t0 := time.Now()
	time.Sleep(20 * time.Millisecond)
	if d := time.Since(t0); d < 20*time.Millisecond || d > 5*time.Second {
		fail("time.Sleep(20ms) took %v", d)
	}
	w0, w1 := start.UnixNano(), time.Now().UnixNano()
	if w1 < w0 {
		fail("the wall clock went back from %d to %d", w0, w1)
	}
	fmt.Printf("realtime %d\nrealtime %d\n", w0, w1)
	fmt.Printf("ns_per_now %d\n", elapsed.Nanoseconds()/int64(n))
	fmt.Println("goclock: ok")
}
