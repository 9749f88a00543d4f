package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/store"
)

// Input limits. They keep snapshots small and error messages clear.
const (
	maxNameLen      = 128
	maxScopes       = 64
	maxExternalID   = 255
	maxMetadata     = 4096
	maxRestrictions = 100
	maxRateLimit    = 1_000_000_000
	maxRateWindow   = 86_400
	maxGraceSeconds = 30 * 86_400
)

var (
	scopeRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,31}:[a-z][a-z0-9_.-]{0,31}$`)
	hostRE  = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	keyIDRE = regexp.MustCompile(`^key_[0-9A-Z]{26}$`)
)

var keyTypes = []string{store.TypeGeneric, store.TypeOnboarding, store.TypeGCP, store.TypeAWS}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return validation("name is required")
	case len(name) > maxNameLen:
		return validation(fmt.Sprintf("name must be at most %d bytes", maxNameLen))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return validation("name must not hold control characters")
	}
	return nil
}

func checkType(t string) error {
	if !slices.Contains(keyTypes, t) {
		return validation("type must be one of " + strings.Join(keyTypes, ", "))
	}
	return nil
}

func checkEnv(env string) error {
	if env != "live" && env != "test" {
		return validation(`environment must be "live" or "test"`)
	}
	return nil
}

// normScopes validates scopes and returns them sorted and deduplicated, so equal policies compare
// equal everywhere downstream.
func normScopes(scopes []string) ([]string, error) {
	if len(scopes) > maxScopes {
		return nil, validation(fmt.Sprintf("at most %d scopes", maxScopes))
	}
	out := make([]string, 0, len(scopes))
	for i, sc := range scopes {
		if !scopeRE.MatchString(sc) {
			return nil, validation(fmt.Sprintf("scopes[%d] must look like resource:action, e.g. events:write", i))
		}
		out = append(out, sc)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func checkExternalID(id string) error {
	if len(id) > maxExternalID {
		return validation(fmt.Sprintf("external_id must be at most %d bytes", maxExternalID))
	}
	return nil
}

// normMetadata accepts a JSON object (or null, meaning none) and returns it compacted.
func normMetadata(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, validation("metadata must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, validation("metadata must be a JSON object")
	}
	if buf.Len() > maxMetadata {
		return nil, validation(fmt.Sprintf("metadata must be at most %d bytes", maxMetadata))
	}
	return buf.Bytes(), nil
}

// normRestrictions validates CIDRs (a bare address means just that address) and host names, and
// returns them canonical.
func normRestrictions(r *apiv1.Restrictions) (store.Restrictions, error) {
	out := store.Restrictions{AllowedCIDRs: []string{}, AllowedHosts: []string{}}
	if r == nil {
		return out, nil
	}
	if len(r.AllowedCIDRs) > maxRestrictions || len(r.AllowedHosts) > maxRestrictions {
		return out, validation(fmt.Sprintf("at most %d entries per restriction list", maxRestrictions))
	}
	for i, c := range r.AllowedCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return out, validation(fmt.Sprintf("allowed_cidrs[%d] is not a CIDR such as 10.0.0.0/8", i))
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out.AllowedCIDRs = append(out.AllowedCIDRs, p.Masked().String())
	}
	for i, h := range r.AllowedHosts {
		h = strings.ToLower(h)
		if len(h) > 253 || !hostRE.MatchString(h) {
			return out, validation(fmt.Sprintf("allowed_hosts[%d] is not a host name such as api.example.com or *.example.com", i))
		}
		out.AllowedHosts = append(out.AllowedHosts, h)
	}
	slices.Sort(out.AllowedCIDRs)
	slices.Sort(out.AllowedHosts)
	out.AllowedCIDRs = slices.Compact(out.AllowedCIDRs)
	out.AllowedHosts = slices.Compact(out.AllowedHosts)
	return out, nil
}

func checkRateLimit(r *apiv1.RateLimit) (*store.RateLimit, error) {
	if r == nil {
		return nil, nil
	}
	if r.Limit < 1 || r.Limit > maxRateLimit {
		return nil, validation(fmt.Sprintf("rate_limit.limit must be between 1 and %d", maxRateLimit))
	}
	if r.WindowSeconds < 1 || r.WindowSeconds > maxRateWindow {
		return nil, validation(fmt.Sprintf("rate_limit.window_seconds must be between 1 and %d", maxRateWindow))
	}
	return &store.RateLimit{Limit: r.Limit, WindowSeconds: r.WindowSeconds}, nil
}

func (s *Server) checkExpiry(t *time.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	if !t.After(s.clock.Now()) {
		return nil, validation("expires_at must be in the future")
	}
	u := t.UTC().Truncate(time.Microsecond) // what the store keeps
	return &u, nil
}

func checkKeyID(id string) error {
	if !keyIDRE.MatchString(id) {
		return validation("malformed key id: ids look like key_ followed by 26 characters")
	}
	return nil
}
