package vfs_test

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/veil-sandbox/veil/sentry/vfs"
	"golang.org/x/sys/unix"
)

// TestConcurrentNamespace hammers one tree from several goroutines (run
// with -race): the point is no deadlock, no race and no panic.
func TestConcurrentNamespace(t *testing.T) { concurrentNamespace(t, vfs.MaxUnusedDentries) }

// TestConcurrentNamespaceEvicting is TestConcurrentNamespace with a dentry
// cache that evicts everything unused at once.
func TestConcurrentNamespaceEvicting(t *testing.T) { concurrentNamespace(t, 0) }

func concurrentNamespace(t *testing.T, maxUnused int) {
	e := newEnv(t)
	e.v.SetMaxUnusedDentries(maxUnused)
	e.mkdir("/a")
	e.mkdir("/a/b")
	e.mkdir("/c")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			dirs := []string{"/a", "/a/b", "/c", "/a/b/d", "/c/d"}
			for i := 0; i < 300; i++ {
				d1 := dirs[r.Intn(len(dirs))]
				d2 := dirs[r.Intn(len(dirs))]
				name := fmt.Sprintf("%s/f%d", d1, r.Intn(5))
				switch r.Intn(8) {
				case 0:
					if f, err := e.v.Open(e.ctx, e.pop(name, true), unix.O_CREAT|unix.O_RDWR, 0o644); err == nil {
						f.Write(e.ctx, []byte("x"))
						f.DecRef()
					}
				case 1:
					e.v.Unlink(e.ctx, e.pop(name, false))
				case 2:
					e.v.Rename(e.ctx, e.pop(name, false), e.pop(fmt.Sprintf("%s/f%d", d2, r.Intn(5)), false), 0)
				case 3:
					e.v.Mkdir(e.ctx, e.pop(d1+"/d", false), 0o755)
				case 4:
					e.v.Rmdir(e.ctx, e.pop(d1+"/d", false))
				case 5:
					e.v.Rename(e.ctx, e.pop(d1+"/d", false), e.pop(d2+"/d", false), 0)
				case 6:
					e.v.Stat(e.ctx, e.pop(name, true))
				case 7:
					if f, err := e.v.Open(e.ctx, e.pop(d1, true), unix.O_RDONLY, 0); err == nil {
						f.Getdents(e.ctx, func(vfs.Dirent, int64) bool { return true })
						f.PathName()
						f.DecRef()
					}
				}
			}
		}(g)
	}
	wg.Wait()
}
