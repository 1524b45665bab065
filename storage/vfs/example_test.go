package vfs_test

import (
	"fmt"
	"io"

	"kvstore/storage/vfs"
)

// A crash keeps what was synced: file contents after Sync, directory entries
// after SyncDir.
func ExampleMemFS_CrashClone() {
	fs := vfs.NewMem()
	f, _ := fs.Create("wal")
	f.Write([]byte("durable;"))
	f.Sync()
	fs.SyncDir("/")
	f.Write([]byte("lost"))

	crashed := fs.CrashClone()
	g, _ := crashed.Open("wal")
	b, _ := io.ReadAll(g)
	fmt.Printf("%q\n", b)
	// Output: "durable;"
}

// ErrorFS makes chosen operations fail, here the second write.
func ExampleNewErrorFS() {
	fs := vfs.NewErrorFS(vfs.NewMem(), vfs.FailNth(2, vfs.OpWrite))
	f, _ := fs.Create("f")
	for i := range 3 {
		_, err := f.Write([]byte("x"))
		fmt.Println(i, err)
	}
	// Output:
	// 0 <nil>
	// 1 write f: vfs: injected error
	// 2 <nil>
}
