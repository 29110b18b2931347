// Command usercleanup runs the User Cleanup backend: the Atlassian Connect
// apps for Jira Cloud and Confluence Cloud that find inactive users and
// remove their product access.
//
// Usage:
//
//	usercleanup [serve]   run the HTTP server (the default)
//	usercleanup demo [--port N] [--users N] [--reset] [--data DIR]
//	                      the whole product on localhost with fake Atlassian
//	                      and Microsoft clouds (see README.md)
//	usercleanup version   print the version
//	usercleanup forge-manifest [-dir DIR]
//	                      write the Connect on Forge manifests (forge/)
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"fmt"
	"os"
	// Scheduled cleanups run in the admin's time zone: the zone database
	// is embedded, so they work in a container image without zoneinfo.
	_ "time/tzdata"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "usercleanup: "+oneLine(err.Error()))
		os.Exit(exitCode(err))
	}
}
