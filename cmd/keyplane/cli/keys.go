package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
)

// keyFlags are the flags of `keys create` and `keys update`.
type keyFlags struct {
	name, workspace, scopes, typ, env, externalID, expiresAt, rateLimit string
	expiresIn                                                           time.Duration
	enable, disable, noExpiry                                           bool
}

func keys(args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("keys needs a verb: create, list, get, update, revoke, rotate, verify")
	}
	verb := args[0]
	fs := flag.NewFlagSet("keys "+verb, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	var f keyFlags
	var all bool
	var grace time.Duration
	var ip, host string
	fs.StringVar(&f.workspace, "workspace", "", "workspace id (needed with the admin token)")
	fs.StringVar(&f.name, "name", "", "key name")
	fs.StringVar(&f.scopes, "scopes", "", "comma-separated scopes, e.g. events:write,events:read")
	fs.StringVar(&f.typ, "type", "", "GENERIC, ONBOARDING, GCP or AWS")
	fs.StringVar(&f.env, "env", "", "live or test")
	fs.StringVar(&f.externalID, "external-id", "", "your id for the key's owner")
	fs.StringVar(&f.expiresAt, "expires-at", "", "expiry as an RFC 3339 time")
	fs.DurationVar(&f.expiresIn, "expires-in", 0, "expiry from now, e.g. 720h")
	fs.StringVar(&f.rateLimit, "rate-limit", "", "requests per window, e.g. 100/60s")
	fs.BoolVar(&f.enable, "enable", false, "enable the key")
	fs.BoolVar(&f.disable, "disable", false, "disable the key without revoking it")
	fs.BoolVar(&f.noExpiry, "no-expiry", false, "remove the expiry")
	fs.BoolVar(&all, "all", false, "include revoked keys")
	fs.DurationVar(&grace, "grace", 0, "how long the old key keeps working after a rotation")
	fs.StringVar(&ip, "ip", "", "verify: the client address a restricted key is checked against")
	fs.StringVar(&host, "host", "", "verify: the host a restricted key is checked against")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := remote()
	if err != nil {
		return err
	}
	ctx := context.Background()
	one := func(k apiv1.Key, err error) error {
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, k)
		}
		if k.Key != "" {
			fmt.Fprintf(out, "key: %s\n(shown once: store it now; only its prefix %s is kept)\n\n", k.Key, k.Prefix)
		}
		return keyTable(out, []apiv1.Key{k})
	}
	arg := func() (string, error) {
		if len(pos) != 1 {
			return "", usageError("keys %s needs one argument", verb)
		}
		return pos[0], nil
	}
	switch verb {
	case "create":
		req, err := f.createRequest()
		if err != nil {
			return err
		}
		return one(c.CreateKey(ctx, req))
	case "list":
		l, err := c.ListKeys(ctx, client.ListOptions{WorkspaceID: f.workspace, Type: f.typ, Environment: f.env, Name: f.name, IncludeRevoked: all, Limit: 1000})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, l)
		}
		return keyTable(out, l.Data)
	case "get":
		id, err := arg()
		if err != nil {
			return err
		}
		return one(c.GetKey(ctx, id))
	case "update":
		id, err := arg()
		if err != nil {
			return err
		}
		u, err := f.update(fs)
		if err != nil {
			return err
		}
		return one(c.UpdateKey(ctx, id, u))
	case "revoke":
		var res apiv1.RevokeResult
		if f.name != "" {
			res, err = c.RevokeKeyByName(ctx, f.name, f.workspace)
		} else if id, aerr := arg(); aerr != nil {
			return aerr
		} else {
			res, err = c.RevokeKey(ctx, id)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "revoked %s\n", res.KeyID)
		return nil
	case "rotate":
		id, err := arg()
		if err != nil {
			return err
		}
		return one(c.RotateKey(ctx, id, grace))
	case "verify":
		key, err := arg()
		if err != nil {
			return err
		}
		v, err := c.VerifyKey(ctx, apiv1.VerifyRequest{Key: key, Scopes: splitList(f.scopes), IP: ip, Host: host})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, v)
		}
		fmt.Fprintf(out, "valid: %v\ncode: %s\n", v.Valid, v.Code)
		if v.KeyID != "" {
			fmt.Fprintf(out, "key: %s (%s) scopes: %s\n", v.KeyID, v.Name, strings.Join(v.Scopes, ","))
		}
		return nil
	}
	return usageError("unknown keys verb %q", verb)
}

func (f keyFlags) createRequest() (apiv1.CreateKeyRequest, error) {
	req := apiv1.CreateKeyRequest{WorkspaceID: f.workspace, Name: f.name, Type: f.typ, Environment: f.env,
		Scopes: splitList(f.scopes), ExternalID: f.externalID}
	if f.disable {
		off := false
		req.Enabled = &off
	}
	exp, err := f.expiry()
	if err != nil {
		return req, err
	}
	req.ExpiresAt = exp
	req.RateLimit, err = parseRate(f.rateLimit)
	return req, err
}

func (f keyFlags) update(fs *flag.FlagSet) (client.KeyUpdate, error) {
	var u client.KeyUpdate
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["name"] {
		u.Name = &f.name
	}
	if set["scopes"] {
		s := splitList(f.scopes)
		if s == nil {
			s = []string{}
		}
		u.Scopes = &s
	}
	if set["external-id"] {
		u.ExternalID = &f.externalID
	}
	if f.enable || f.disable {
		on := f.enable
		u.Enabled = &on
	}
	exp, err := f.expiry()
	if err != nil {
		return u, err
	}
	u.ExpiresAt, u.ClearExpiry = exp, f.noExpiry
	if set["rate-limit"] {
		if u.RateLimit, err = parseRate(f.rateLimit); err != nil {
			return u, err
		}
		u.ClearRateLimit = u.RateLimit == nil
	}
	return u, nil
}

func (f keyFlags) expiry() (*time.Time, error) {
	switch {
	case f.expiresAt != "":
		t, err := time.Parse(time.RFC3339, f.expiresAt)
		if err != nil {
			return nil, usageError("--expires-at must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		return &t, nil
	case f.expiresIn > 0:
		t := time.Now().Add(f.expiresIn)
		return &t, nil
	}
	return nil, nil
}

// parseRate reads "100/60s" (or "100/1m"); "" and "none" mean no limit.
func parseRate(s string) (*apiv1.RateLimit, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	n, w, ok := strings.Cut(s, "/")
	limit, err := strconv.Atoi(n)
	d, derr := time.ParseDuration(w)
	if !ok || err != nil || derr != nil || d < time.Second {
		return nil, usageError("--rate-limit must look like 100/60s")
	}
	return &apiv1.RateLimit{Limit: limit, WindowSeconds: int(d / time.Second)}, nil
}

func keyTable(out io.Writer, ks []apiv1.Key) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPREFIX\tNAME\tTYPE\tENV\tSCOPES\tSTATUS\tEXPIRES")
	for _, k := range ks {
		status := "active"
		switch {
		case k.RevokedAt != nil:
			status = "revoked"
		case k.ReplacedBy != "":
			status = "rotated"
		case !k.Enabled:
			status = "disabled"
		}
		exp := "-"
		if k.ExpiresAt != nil {
			exp = k.ExpiresAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, k.Type, k.Environment, strings.Join(k.Scopes, ","), status, exp)
	}
	return tw.Flush()
}
