// Command goprog exercises the Go runtime inside the sandbox: goroutines
// and channels, sync.WaitGroup, timers, the garbage collector, os/exec,
// signal delivery through os/signal, file I/O in /tmp and asynchronous
// preemption (the runtime's SIGURG sent with tgkill). Its stdout is
// deterministic and compared with a native run; any failed check prints
// "goprog: FAIL ..." on stderr and exits with status 99.
//
// It is built with CGO_ENABLED=0 so the binary is static.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "goprog: FAIL "+format+"\n", args...)
	os.Exit(99)
}

func pipeline() {
	gen := func(n int) <-chan int {
		ch := make(chan int)
		go func() {
			defer close(ch)
			for i := 1; i <= n; i++ {
				ch <- i
			}
		}()
		return ch
	}
	square := func(in <-chan int) <-chan int {
		out := make(chan int, 8)
		go func() {
			defer close(out)
			for v := range in {
				out <- v * v
			}
		}()
		return out
	}
	// Fan out to 4 squarers, fan in.
	src := gen(2000)
	var wg sync.WaitGroup
	results := make(chan int, 16)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(c <-chan int) {
			defer wg.Done()
			for v := range c {
				results <- v
			}
		}(square(src))
	}
	go func() { wg.Wait(); close(results) }()
	sum := 0
	for v := range results {
		sum += v
	}
	if want := 2000 * 2001 * 4001 / 6; sum != want {
		fail("pipeline sum %d, want %d", sum, want)
	}
	fmt.Printf("goprog: pipeline sum of squares 1..2000 = %d\n", sum)
}

func waitGroup() {
	var wg sync.WaitGroup
	var total atomic.Int64
	var mu sync.Mutex
	seen := map[int]bool{}
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				total.Add(int64(g))
				if i%250 == 0 {
					runtime.Gosched()
				}
			}
			mu.Lock()
			seen[g] = true
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	if len(seen) != 32 || total.Load() != 1000*31*32/2 {
		fail("waitgroup: %d goroutines, total %d", len(seen), total.Load())
	}
	fmt.Printf("goprog: waitgroup 32 goroutines total=%d\n", total.Load())
}

func sleeping() {
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		start := time.Now()
		time.Sleep(d)
		if el := time.Since(start); el < d || el > d+5*time.Second {
			fail("time.Sleep(%v) took %v", d, el)
		}
	}
	// The start time is taken first: the timer may only fire 30ms after
	// it was created, which is after start.
	start := time.Now()
	timer := time.NewTimer(30 * time.Millisecond)
	select {
	case <-timer.C:
	case <-time.After(10 * time.Second):
		fail("timer did not fire")
	}
	if time.Since(start) < 30*time.Millisecond {
		fail("timer fired early")
	}
	fmt.Println("goprog: sleep ok")
}

type node struct {
	next *node
	data []byte
	id   int
}

func gcChurn() {
	var keep *node
	kept := 0
	for i := 0; i < 20000; i++ {
		n := &node{data: make([]byte, 64+i%4000), id: i}
		for j := range n.data {
			n.data[j] = byte(i + j)
		}
		if i%10 == 0 {
			n.next = keep
			keep = n
			kept++
		}
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.NumGC < before.NumGC+2 {
		fail("runtime.GC did not run: NumGC %d -> %d", before.NumGC, after.NumGC)
	}
	sum, count := 0, 0
	for n := keep; n != nil; n = n.next {
		for j, b := range n.data {
			if b != byte(n.id+j) {
				fail("gc: node %d byte %d corrupted", n.id, j)
			}
		}
		sum += n.id
		count++
	}
	if count != kept {
		fail("gc: %d nodes reachable, want %d", count, kept)
	}
	fmt.Printf("goprog: gc kept %d nodes, id sum %d\n", count, sum)
}

func execChild() {
	out, err := exec.Command("/bin/busybox", "echo", "child").Output()
	if err != nil {
		fail("exec /bin/busybox echo child: %v", err)
	}
	fmt.Printf("goprog: exec output %q\n", out)
	err = exec.Command("/bin/busybox", "sh", "-c", "exit 3").Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 3 {
		fail("exec exit code: %v", err)
	}
	var buf bytes.Buffer
	cmd := exec.Command("/bin/busybox", "tr", "a-z", "A-Z")
	cmd.Stdin = bytes.NewBufferString("piped through a child\n")
	cmd.Stdout = &buf
	if err := cmd.Run(); err != nil {
		fail("exec tr: %v", err)
	}
	fmt.Printf("goprog: exec exit code 3, stdin/stdout pipes %q\n", buf.String())
}

func signals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	defer signal.Stop(ch)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		fail("kill: %v", err)
	}
	select {
	case s := <-ch:
		fmt.Printf("goprog: received %v\n", s)
	case <-time.After(10 * time.Second):
		fail("SIGUSR1 not received through os/signal")
	}
}

func files() {
	f, err := os.CreateTemp("/tmp", "veil-goprog-")
	if err != nil {
		fail("CreateTemp: %v", err)
	}
	defer os.Remove(f.Name())
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if _, err := f.Write(payload); err != nil {
		fail("write: %v", err)
	}
	if err := f.Close(); err != nil {
		fail("close: %v", err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, payload) {
		fail("read back: %v (len %d)", err, len(got))
	}
	fmt.Printf("goprog: wrote and read back %d bytes in /tmp\n", len(got))
}

var stop atomic.Int32

// spin loops without any function call, so it has no synchronous
// preemption point; only an asynchronous preemption signal can take the P
// away from it. The atomic load is an intrinsic, not a call.
//
//go:noinline
func spin() int {
	i := 0
	for {
		i++
		if i&0xfffff == 0 && stop.Load() != 0 {
			return i
		}
	}
}

func preemption() {
	prev := runtime.GOMAXPROCS(1)
	done := make(chan int)
	go func() { done <- spin() }()
	// Let the spinner get the only P, then sleep: waking up again needs the
	// runtime to preempt the spinner asynchronously.
	runtime.Gosched()
	time.Sleep(50 * time.Millisecond)
	stop.Store(1)
	<-done
	runtime.GOMAXPROCS(prev)
	fmt.Println("goprog: preempted ok")
}

func main() {
	runtime.GOMAXPROCS(2)
	pipeline()
	waitGroup()
	sleeping()
	gcChurn()
	execChild()
	signals()
	files()
	preemption()
	fmt.Println("goprog: ok")
}
