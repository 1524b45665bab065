package memnet_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"kvstore/node/transport"
	"kvstore/node/transport/memnet"
	"kvstore/node/wire"
)

func Example() {
	n := memnet.New(42)
	n.SetMode(memnet.FailFast)
	pong := transport.HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		return &wire.Pong{Name: "b"}, nil
	})
	a, b := n.Transport("a"), n.Transport("b")
	defer a.Close()
	defer b.Close()
	b.Listen("b", pong)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := a.Call(ctx, "b", &wire.Ping{})
	fmt.Println(resp, err)

	n.Partition([]string{"a"}, []string{"b"})
	_, err = a.Call(ctx, "b", &wire.Ping{})
	fmt.Println(errors.Is(err, memnet.ErrUnreachable))

	n.Heal()
	n.Stop("b")
	_, err = a.Call(ctx, "b", &wire.Ping{})
	fmt.Println(errors.Is(err, memnet.ErrRefused))
	// Output:
	// &{b} <nil>
	// true
	// true
}
