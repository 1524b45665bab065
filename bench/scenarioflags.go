package bench

import (
	"flag"
	"strings"
)

// ScenarioFlags registers the flags of the fault scenarios on fs and
// returns the configuration they fill in when fs is parsed:
//
//	-scenario -binary -nodes -duration-per-phase -concurrency -keys
//	-value-size -reads -data -keep -base-port -seed -kills -down
//	-timeout -ready-timeout
//
// Defaults are those of DefaultScenarioConfig; -binary left empty is for
// the caller to fill in (kvstore bench uses its own executable).
func ScenarioFlags(fs *flag.FlagSet) *ScenarioConfig {
	c := new(ScenarioConfig)
	*c = DefaultScenarioConfig()
	fs.StringVar(&c.Scenario, "scenario", "", "fault scenario: "+strings.Join(Scenarios(), " or ")+
		" (rolling: restart every node, join two, make two leave, kill -9 one; crash: SIGKILL a random node at random moments)")
	fs.StringVar(&c.Binary, "binary", "", "kvstore executable the nodes run (default: this executable)")
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "nodes of the cluster the scenario starts (at least 3)")
	fs.DurationVar(&c.PhaseDuration, "duration-per-phase", c.PhaseDuration, "shortest length of each phase")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "workers, each with one request in flight")
	fs.IntVar(&c.Keys, "keys", c.Keys, "size of the key space (each key has one writer)")
	fs.IntVar(&c.ValueSize, "value-size", c.ValueSize, "value size in bytes (at least 28)")
	fs.Float64Var(&c.Reads, "reads", c.Reads, "fraction of operations that are reads (0: 0.5 for rolling, none for crash; negative: none)")
	fs.StringVar(&c.DataDir, "data", "", "directory for the nodes' data and logs, empty or absent (default: a new temporary directory)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the data directory at the end (it is also kept when the scenario fails)")
	fs.IntVar(&c.BasePort, "base-port", 0, "first of the loopback ports, three per node: HTTP, RPC, gossip (0: free ports)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of keys, operations, the nodes acted on and the moments of crashes")
	fs.IntVar(&c.Kills, "kills", c.Kills, "SIGKILLs of the crash scenario")
	fs.DurationVar(&c.Down, "down", c.Down, "how long a killed node stays down (crash: at most this long, at random)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "timeout of each request")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "bound on each wait: a node starting, stopping or leaving, the cluster becoming ready, hints draining")
	return c
}
