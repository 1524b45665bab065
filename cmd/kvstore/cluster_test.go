package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kvstore/bench"
)

// The multi-process test builds the kvstore binary, runs a three-node
// cluster of real processes on loopback, drives both HTTP APIs, SIGKILLs a
// node while reading and writing at quorum, and restarts it.

type proc struct {
	name, http, rpc, gossip string
	cmd                     *exec.Cmd
	out                     *bytes.Buffer
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvstore")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (p *proc) start(t *testing.T, bin, dir, secret string, join string) {
	t.Helper()
	args := []string{"serve", "-node", p.name, "-data", filepath.Join(dir, p.name),
		"-http", p.http, "-rpc", p.rpc, "-gossip", p.gossip, "-secret-file", secret}
	if join != "" {
		args = append(args, "-join", join)
	}
	p.cmd = exec.Command(bin, args...)
	p.out = &bytes.Buffer{}
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "serving") {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		t.Fatalf("%s did not start: %q %v\n%s", p.name, line, err, p.out)
	}
	go io.Copy(io.Discard, stdout)
}

func (p *proc) stop(sig syscall.Signal) error {
	if p.cmd == nil {
		return nil
	}
	p.cmd.Process.Signal(sig)
	err := p.cmd.Wait()
	p.cmd = nil
	return err
}

var httpc = &http.Client{Timeout: 10 * time.Second}

func do(t *testing.T, method, u string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestClusterOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("a-test-cluster-secret-0123456789\n"), 0o600)
	ports, err := bench.FreeLoopbackPorts(9)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*proc
	for i := range 3 {
		ps = append(ps, &proc{
			name:   fmt.Sprintf("p%d", i),
			http:   fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			rpc:    fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			gossip: fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
		})
	}
	defer func() {
		for _, p := range ps {
			p.stop(syscall.SIGKILL)
		}
	}()
	for i, p := range ps {
		join := ""
		if i > 0 {
			join = ps[0].gossip
		}
		p.start(t, bin, dir, secret, join)
	}
	base := func(i int) string { return "http://" + ps[i].http }

	// Wait until every node sees three active members.
	deadline := time.Now().Add(20 * time.Second)
	for i := range ps {
		for {
			code, body, _ := do(t, "GET", base(i)+"/status", nil)
			var st struct {
				EffectiveN int `json:"effective_n"`
			}
			if code == 200 && json.Unmarshal(body, &st) == nil && st.EffectiveN == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never saw 3 ring members: %s", ps[i].name, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The original API, exactly.
	if code, _, _ := do(t, "PUT", base(0)+"/?key=hello&value=world", nil); code != 200 {
		t.Fatalf("PUT /?key: %d", code)
	}
	if code, body, _ := do(t, "GET", base(1)+"/?key=hello", nil); code != 200 || string(body) != "world" {
		t.Fatalf("GET /?key: %d %q", code, body)
	}
	if code, _, _ := do(t, "GET", base(2)+"/?key=absent", nil); code != 404 {
		t.Fatalf("GET absent: %d", code)
	}
	batch := []byte(`{"Keys":["a","b","c"],"Values":["1","2","3"]}`)
	if code, body, _ := do(t, "POST", base(2)+"/batchput", batch); code != 200 {
		t.Fatalf("POST /batchput: %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", base(2)+"/batchput", []byte(`{"Keys":["a"],"Values":[]}`)); code != 400 {
		t.Fatalf("POST /batchput with mismatched lengths: %d", code)
	}
	code, body, _ := do(t, "GET", base(1)+"/range?start=a&end=c", nil)
	var kvs []struct{ Key, Value string }
	if code != 200 || json.Unmarshal(body, &kvs) != nil || len(kvs) != 3 || kvs[0].Key != "a" || kvs[2].Value != "3" {
		t.Fatalf("GET /range: %d %s", code, body)
	}
	if code, _, _ := do(t, "DELETE", base(0)+"/?key=hello", nil); code != 200 {
		t.Fatalf("DELETE /?key: %d", code)
	}
	if code, _, _ := do(t, "GET", base(2)+"/?key=hello", nil); code != 404 {
		t.Fatalf("GET after DELETE: %d", code)
	}

	// The native API: binary keys and values, versions and replica counts.
	key := url.PathEscape(string([]byte{0, 1, 2, '/', 0xff}))
	value := []byte{0, 0xfe, '\n', 7}
	code, _, h := do(t, "PUT", base(0)+"/kv/"+key+"?w=all", value)
	if code != 200 || h.Get("X-Kvstore-Replicas") != "3" || h.Get("X-Kvstore-Version") == "" {
		t.Fatalf("PUT /kv: %d %v", code, h)
	}
	code, body, h = do(t, "GET", base(1)+"/kv/"+key+"?r=quorum", nil)
	if code != 200 || !bytes.Equal(body, value) {
		t.Fatalf("GET /kv: %d %q %v", code, body, h)
	}

	// SIGKILL a node: reads and writes at quorum keep working.
	if err := ps[2].stop(syscall.SIGKILL); err == nil {
		t.Fatal("killed node exited cleanly")
	}
	for i := range 50 {
		k := fmt.Sprintf("after-kill-%d", i)
		if code, body, _ := do(t, "PUT", base(i%2)+"/kv/"+k, []byte("v"+k)); code != 200 {
			t.Fatalf("PUT %s with a node killed: %d %s", k, code, body)
		}
		if code, body, _ := do(t, "GET", base((i+1)%2)+"/kv/"+k, nil); code != 200 || string(body) != "v"+k {
			t.Fatalf("GET %s with a node killed: %d %s", k, code, body)
		}
	}

	// Restart it: it serves its own data and the cluster's.
	ps[2].start(t, bin, dir, secret, ps[0].gossip)
	if code, body, _ := do(t, "GET", base(2)+"/?key=a", nil); code != 200 || string(body) != "1" {
		t.Fatalf("GET via the restarted node: %d %q", code, body)
	}
	for i := range 50 {
		k := fmt.Sprintf("after-kill-%d", i)
		if code, body, _ := do(t, "GET", base(2)+"/kv/"+k, nil); code != 200 || string(body) != "v"+k {
			t.Fatalf("GET %s via the restarted node: %d %s", k, code, body)
		}
	}

	// SIGTERM: a clean exit.
	for _, p := range ps {
		if err := p.stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s: exit after SIGTERM: %v\n%s", p.name, err, p.out)
		}
	}
}
