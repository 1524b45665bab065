package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lastAliveFile records, in the data directory, when this node last ran
// (Unix milliseconds, decimal). A node that was away longer than the
// tombstone grace period may hold values whose deletes the other replicas
// have already purged: rejoining with that data would bring them back.
const lastAliveFile = "last-alive"

// ErrAwayTooLong is returned by Start for a node whose data is older than
// the tombstone grace period.
var ErrAwayTooLong = errors.New("node: away longer than the tombstone grace period")

// checkAway refuses to start on data last used longer ago than grace. fresh
// reports a data directory where no node ever ran (no last-alive mark).
func (n *Node) checkAway(grace time.Duration) (fresh bool, err error) {
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, lastAliveFile))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return false, fmt.Errorf("node: %s: %w", lastAliveFile, err)
	}
	away := n.cfg.Now().Sub(time.UnixMilli(ms))
	if away <= grace {
		return false, nil
	}
	return false, fmt.Errorf("%w: %s last ran %v ago (grace %v); its data may bring back keys deleted meanwhile. "+
		"Move or delete %s (keep the cluster secret) and start the node again: it rejoins empty and "+
		"streams its partitions back before it serves reads", ErrAwayTooLong, n.cfg.Name, away.Round(time.Minute), grace, n.cfg.DataDir)
}

// markAlive records that the node is running now.
func (n *Node) markAlive() error {
	return writeFileAtomic(filepath.Join(n.cfg.DataDir, lastAliveFile), []byte(strconv.FormatInt(n.cfg.Now().UnixMilli(), 10)+"\n"))
}

// writeFileAtomic writes a small file through path.tmp, synced and renamed
// into place with its directory synced, so a crash leaves the old or the
// new content whole.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// aliveLoop refreshes the last-alive mark every minute.
func (n *Node) aliveLoop() {
	defer n.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-n.bg.Done():
			return
		case <-t.C:
			if err := n.markAlive(); err != nil {
				n.log.Printf("record last-alive time: %v", err)
			}
		}
	}
}
