// Command keyplane is the control plane, the edge, the sync agent and the CLI in one binary.
package main

import (
	"os"

	"github.com/keyplane/keyplane/cmd/keyplane/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
