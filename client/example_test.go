package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"kvstore/client"
	"kvstore/node"
)

func Example() {
	// A node's HTTP API; here over an in-memory stand-in for the cluster.
	srv := httptest.NewServer(node.NewHTTPHandler(newMemAPI(), node.HTTPConfig{}))
	defer srv.Close()

	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx := context.Background()

	res, err := c.Put(ctx, []byte("user/1"), []byte("ada"), "quorum")
	fmt.Println("put:", err, res.Replicas, "of", res.Required)

	value, _, err := c.Get(ctx, []byte("user/1"), "one")
	fmt.Printf("get: %s %v\n", value, err)

	_, _, err = c.Get(ctx, []byte("user/2"), "")
	fmt.Println("missing:", errors.Is(err, client.ErrNotFound))

	c.Put(ctx, []byte("user/2"), []byte("grace"), "")
	for kv, err := range c.RangeAll(ctx, []byte("user/"), []byte("user/~"), "") {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s=%s\n", kv.Key, kv.Value)
	}
	// Output:
	// put: <nil> 3 of 2
	// get: ada <nil>
	// missing: true
	// user/1=ada
	// user/2=grace
}
