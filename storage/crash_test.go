package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a writer child, kills it
// with SIGKILL at a random moment, reopens the store and checks that every
// write the child saw acknowledged is there.
const (
	crashChildEnv = "KVSTORE_CRASH_CHILD"      // store directory: run as the child
	crashSeedEnv  = "KVSTORE_CRASH_SEED"       // child's key prefix seed
	crashItersEnv = "KVSTORE_CRASH_ITERATIONS" // more kill/reopen rounds
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func crashOptions() Options {
	return Options{
		Shards:              4,
		MemtableSize:        256 << 10,
		TargetFileSize:      256 << 10,
		L0CompactionTrigger: 2,
		LevelBaseSize:       1 << 20,
		Sync:                SyncAlways,
	}
}

// crashValue is the value the child writes for a key, so the parent can
// check it without being told.
func crashValue(key string) []byte {
	return bytes.Repeat([]byte(key), 1+len(key)%7)
}

// crashChild writes unique keys from 8 goroutines and prints "ack KEY" for
// each acknowledged write until it is killed.
func crashChild(dir string) {
	db, err := Open(dir, crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	prefix := os.Getenv(crashSeedEnv)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("%s-%d-%07d", prefix, g, i)
				v := NewVersion(time.Now().UnixMilli(), 0, uint32(g))
				var err error
				if i%10 == 9 {
					var b Batch
					for j := range 5 {
						k := key + "-b" + strconv.Itoa(j)
						b.Put([]byte(k), crashValue(k), v)
					}
					err = db.Apply(&b)
					if err == nil {
						mu.Lock()
						for j := range 5 {
							fmt.Fprintf(out, "ack %s-b%d\n", key, j)
						}
						out.Flush()
						mu.Unlock()
					}
				} else {
					err = db.Put([]byte(key), crashValue(key), v)
					if err == nil {
						mu.Lock()
						fmt.Fprintf(out, "ack %s\n", key)
						out.Flush()
						mu.Unlock()
					}
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "write:", err)
					os.Exit(2)
				}
			}
		}()
	}
	wg.Wait()
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	iters := 6
	if s := os.Getenv(crashItersEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", crashItersEnv, err)
		}
		iters = n
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	acked := map[string]bool{}
	for iter := range iters {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashSeedEnv+"="+fmt.Sprintf("r%02d", iter))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l, ok := <-lines; !ok || l != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start: %q %s", l, stderr.String())
		}
		kill := time.After(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		n := 0
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if k, found := strings.CutPrefix(l, "ack "); found {
					acked[k] = true
					n++
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want SIGKILL; stderr: %s", err, stderr.String())
		}

		start := time.Now()
		db, err := Open(dir, crashOptions())
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", iter, err)
		}
		recovery := time.Since(start)
		missing := 0
		for k := range acked {
			rec, err := db.Get([]byte(k))
			if err != nil || !bytes.Equal(rec.Value, crashValue(k)) {
				if missing < 5 {
					t.Errorf("round %d: acknowledged key %s: %v %q", iter, k, err, rec.Value)
				}
				missing++
			}
		}
		// Everything readable must be intact: scan the whole store.
		it, err := db.NewIter(IterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for ok := it.First(); ok; ok = it.Next() {
			if !bytes.Equal(it.Value(), crashValue(string(it.Key()))) {
				t.Errorf("round %d: key %s has a corrupt value", iter, it.Key())
			}
			total++
		}
		if err := it.Close(); err != nil {
			t.Errorf("round %d: scan: %v", iter, err)
		}
		t.Logf("round %d: %d acks this round, %d total, %d keys stored, recovery %v, notes %v",
			iter, n, len(acked), total, recovery, db.RecoveryNotes())
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if missing > 0 {
			t.Fatalf("round %d: %d acknowledged writes lost", iter, missing)
		}
	}
}
