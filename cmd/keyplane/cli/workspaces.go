package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/keyplane/keyplane/controlplane/apiv1"
)

func workspaces(args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("workspaces needs a verb: create, list, get")
	}
	fs := flag.NewFlagSet("workspaces "+args[0], flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	var req apiv1.CreateWorkspaceRequest
	var limit, window int
	if args[0] == "create" {
		fs.StringVar(&req.Name, "name", "", "workspace name")
		fs.StringVar(&req.KeyPrefix, "key-prefix", "", "prefix of the workspace's keys (default kp)")
		fs.IntVar(&req.KeyLimit, "key-limit", 0, "maximum of active keys (default: the server's)")
		fs.IntVar(&limit, "rate-limit", 0, "default requests per window for keys without their own limit")
		fs.IntVar(&window, "rate-window", 60, "seconds in the default rate window")
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := remote()
	if err != nil {
		return err
	}
	ctx := context.Background()
	var ws []apiv1.Workspace
	switch args[0] {
	case "create":
		if limit > 0 {
			req.DefaultRateLimit = &apiv1.RateLimit{Limit: limit, WindowSeconds: window}
		}
		w, err := c.CreateWorkspace(ctx, req)
		if err != nil {
			return err
		}
		ws = []apiv1.Workspace{w}
	case "list":
		if ws, err = c.ListWorkspaces(ctx); err != nil {
			return err
		}
	case "get":
		if len(pos) != 1 {
			return usageError("workspaces get ID")
		}
		w, err := c.GetWorkspace(ctx, pos[0])
		if err != nil {
			return err
		}
		ws = []apiv1.Workspace{w}
	default:
		return usageError("unknown workspaces verb %q", args[0])
	}
	if *asJSON {
		if args[0] == "list" {
			return printJSON(out, apiv1.WorkspaceList{Data: ws})
		}
		return printJSON(out, ws[0])
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKEY PREFIX\tKEY LIMIT\tCREATED")
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", w.ID, w.Name, w.KeyPrefix, w.KeyLimit, w.CreatedAt.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
