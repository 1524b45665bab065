package record_test

import (
	"bytes"
	"fmt"

	"kvstore/storage/record"
)

func Example() {
	var log []byte
	for _, p := range []string{"put a", "put b", "del a"} {
		log = record.Append(log, []byte(p))
	}
	log = log[:len(log)-2] // a crash tore the last write

	r := record.NewReader(bytes.NewReader(log))
	for {
		p, err := r.Next()
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s\n", p)
	}
	fmt.Println("truncate to", r.Offset())
	// Output:
	// put a
	// put b
	// record: torn tail at offset 26: payload of 5 bytes cut short after 3
	// truncate to 26
}
