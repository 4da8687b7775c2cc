package httpapi_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// A one-node server over an in-memory database, used as rqlite's API.
func Example() {
	// sqlnode runs SQLite in WAL mode: the WAL index needs shared memory
	// in a node-local directory.
	indexDir, err := os.MkdirTemp("", "httpapi-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(indexDir)
	if err := sqlitevfs.Register("example-httpapi", vfs.NewMem(), sqlitevfs.WithSharedMemory(indexDir)); err != nil {
		log.Fatal(err)
	}
	defer sqlitevfs.Unregister("example-httpapi")
	node, err := sqlnode.Open(sqlnode.Options{VFS: "example-httpapi", Path: "main.db"})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	srv, err := httpapi.New(httpapi.Config{Backend: httpapi.NewStandalone(node, "node1")})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	created, err := http.Post(hs.URL+"/db/execute", "application/json",
		strings.NewReader(`["CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)"]`))
	if err != nil {
		log.Fatal(err)
	}
	created.Body.Close()
	post := func(path, body string) {
		resp, err := http.Post(hs.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(out))
	}
	post("/db/execute?transaction", `[["INSERT INTO foo(name) VALUES(?)", "fiona"], ["INSERT INTO foo(name) VALUES(:n)", {"n": "declan"}]]`)
	post("/db/query?level=strong&associative", `[["SELECT * FROM foo WHERE name = :n", {"n": "fiona"}]]`)
	post("/db/query?level=eventual", `["SELECT 1"]`)
	resp, err := http.Get(hs.URL + "/db/query?q=" + url.QueryEscape("SELECT count(*) FROM foo"))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(out))
	// Output:
	// 200 {"results":[{"last_insert_id":1,"rows_affected":1},{"last_insert_id":2,"rows_affected":1}]}
	// 200 {"results":[{"types":{"id":"integer","name":"text"},"rows":[{"id":1,"name":"fiona"}]}]}
	// 400 {"error":"httpapi: bad request: unknown level \"eventual\" (want none, weak, linearizable, strong or auto)"}
	// 200 {"results":[{"columns":["count(*)"],"types":[""],"values":[[2]]}]}
}
