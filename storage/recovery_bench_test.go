package storage

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const (
	fillChildEnv     = "KVSTORE_FILL_CHILD" // store directory: run as the filling child
	fillChildKeysEnv = "KVSTORE_FILL_KEYS"
	recoveryKeysEnv  = "KVSTORE_RECOVERY_KEYS" // keys for BenchmarkRecoveryAfterKill
)

func init() {
	// Runs before TestMain's dispatch: the filling child of
	// BenchmarkRecoveryAfterKill.
	if dir := os.Getenv(fillChildEnv); dir != "" {
		n, _ := strconv.Atoi(os.Getenv(fillChildKeysEnv))
		fillChild(dir, n)
		os.Exit(0)
	}
}

// fillChild writes n random keys in batches, prints "filled", then keeps
// overwriting random keys (so the WAL tail is as long as it gets) until it
// is killed.
func fillChild(dir string, n int) {
	db, err := Open(dir, Options{Sync: SyncNone})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(n)
	value := make([]byte, 100)
	key := make([]byte, 16)
	var b Batch
	v := VersionAt(time.Now())
	write := func(i int) {
		v++
		b.Put(benchKey(key, uint64(i)), value, v)
		if b.Len() == 100 {
			if err := db.Apply(&b); err != nil {
				fmt.Fprintln(os.Stderr, "apply:", err)
				os.Exit(2)
			}
			b.Reset()
		}
	}
	for _, i := range perm {
		write(i)
	}
	fmt.Println("filled")
	for {
		write(rng.IntN(n))
	}
}

// BenchmarkRecoveryAfterKill fills a store in a child process (default 200k
// keys; KVSTORE_RECOVERY_KEYS=10000000 for the 10M-key figure), SIGKILLs it
// while it overwrites keys, and times Open.
func BenchmarkRecoveryAfterKill(b *testing.B) {
	n := 200_000
	if s := os.Getenv(recoveryKeysEnv); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fillChildEnv+"="+dir, fillChildKeysEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "filled" {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("child did not fill the store")
	}
	time.Sleep(time.Second) // let the WAL tail grow
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// Only the first Open after the kill recovers anything (Close flushes),
	// so the benchmark opens once whatever b.N is.
	b.ResetTimer()
	start := time.Now()
	db, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := db.Stats()
	b.ReportMetric(float64(elapsed.Milliseconds()), "open-ms")
	b.ReportMetric(float64(st.WALBytesReplayed)/(1<<20), "wal-MiB")
	b.ReportMetric(float64(st.TableBytes)/(1<<20), "tables-MiB")
	key := make([]byte, 16)
	for j := 0; j < 1000; j++ {
		if _, err := db.Get(benchKey(key, uint64(rand.IntN(n)))); err != nil {
			b.Fatalf("key missing after recovery: %v", err)
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}
