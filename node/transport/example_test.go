package transport_test

import (
	"context"
	"fmt"
	"time"

	"kvstore/node/transport"
	"kvstore/node/wire"
)

func Example() {
	secret := []byte("an example secret of 32 bytes...")
	server := transport.NewTCP(transport.Config{Secret: secret, Name: "node-b"})
	defer server.Close()
	addr, err := server.Listen("127.0.0.1:0", transport.HandlerFunc(
		func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
			if _, ok := req.(*wire.Ping); ok {
				return &wire.Pong{Name: "node-b"}, nil
			}
			return nil, transport.NewError(wire.CodeBadRequest, "unexpected %v from %s", req.Type(), from)
		}))
	if err != nil {
		panic(err)
	}

	client := transport.NewTCP(transport.Config{Secret: secret, Name: "node-a"})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := client.Call(ctx, addr.String(), &wire.Ping{})
	fmt.Printf("%T %+v %v\n", resp, resp, err)
	_, err = client.Call(ctx, addr.String(), &wire.WriteRequest{})
	code, _ := transport.CodeOf(err)
	fmt.Println(code)
	// Output:
	// *wire.Pong &{Name:node-b} <nil>
	// bad request
}
