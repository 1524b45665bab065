package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := func() Config { c := DefaultConfig(); c.Name = "n1"; c.SecretKey = testKey; return c }
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // substring; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"zero config with name", func(c *Config) { *c = Config{Name: "n1", Insecure: true} }, ""},
		{"insecure", func(c *Config) { c.SecretKey = nil; c.Insecure = true }, ""},
		{"aes-256", func(c *Config) { c.SecretKey = make([]byte, 32) }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "Name"},
		{"no key", func(c *Config) { c.SecretKey = nil }, "SecretKey is required"},
		{"bad key", func(c *Config) { c.SecretKey = make([]byte, 15) }, "16, 24 or 32"},
		{"bad key insecure", func(c *Config) { c.SecretKey = make([]byte, 15); c.Insecure = true }, "16, 24 or 32"},
		{"port", func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		{"advertise port", func(c *Config) { c.AdvertisePort = -1 }, "AdvertisePort"},
		{"meta", func(c *Config) { c.Meta = make([]byte, MaxMetaSize+1) }, "Meta"},
		{"probe timeout", func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, "ProbeTimeout"},
		{"negative", func(c *Config) { c.GossipInterval = -time.Second }, "GossipInterval"},
		{"suspect after", func(c *Config) { c.SuspectAfter = -1 }, "SuspectAfter"},
		{"retention", func(c *Config) { c.DeadRetention = -1 }, "DeadRetention"},
		{"push/pull disabled", func(c *Config) { c.PushPullInterval = -1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig)):
				t.Errorf("Validate = %v, want ErrInvalidConfig mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	err := Config{BindPort: -1, EventBuffer: -1}.Validate()
	for _, want := range []string{"Name", "SecretKey", "BindPort", "EventBuffer"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %s", err, want)
		}
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	if _, err := Start(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Start(Config{}) = %v, want ErrInvalidConfig", err)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Name: "n1", ProbeInterval: 100 * time.Millisecond}.withDefaults()
	d := DefaultConfig()
	if c.ProbeTimeout != 50*time.Millisecond {
		t.Errorf("ProbeTimeout = %v, want ProbeInterval/2", c.ProbeTimeout)
	}
	if c.GossipInterval != d.GossipInterval || c.SuspicionMult != d.SuspicionMult || c.Logger == nil || c.EventBuffer != d.EventBuffer {
		t.Errorf("defaults not filled: %+v", c)
	}
	if c.BindPort != 0 {
		t.Errorf("BindPort = %d, want 0 kept (free port)", c.BindPort)
	}
}
