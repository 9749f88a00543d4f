// Package envoy holds examples/envoy/envoy.yaml and examples/istio/wasmplugin.yaml. No Envoy
// binary is reachable from the machines this project is built on, so this test checks what it can
// without one: the structure Envoy and Istio expect, and that the plugin configuration each carries
// is one the module's own parser (verifier.ParseConfig) accepts, with a control-plane cluster
// that exists. The module itself is tested through the proxy-wasm SDK's host emulator
// (wasm/proxywasm).
package envoy

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/keyplane/keyplane/verifier"
)

func TestEnvoyConfig(t *testing.T) {
	var doc struct {
		StaticResources struct {
			Listeners []struct {
				FilterChains []struct {
					Filters []struct {
						Name        string `yaml:"name"`
						TypedConfig struct {
							HTTPFilters []struct {
								Name        string `yaml:"name"`
								TypedConfig struct {
									Type   string `yaml:"@type"`
									Config struct {
										RootID   string `yaml:"root_id"`
										VMConfig struct {
											Runtime string `yaml:"runtime"`
											Code    struct {
												Local struct {
													Filename string `yaml:"filename"`
												} `yaml:"local"`
											} `yaml:"code"`
										} `yaml:"vm_config"`
										Configuration struct {
											Type  string `yaml:"@type"`
											Value string `yaml:"value"`
										} `yaml:"configuration"`
									} `yaml:"config"`
								} `yaml:"typed_config"`
							} `yaml:"http_filters"`
						} `yaml:"typed_config"`
					} `yaml:"filters"`
				} `yaml:"filter_chains"`
			} `yaml:"listeners"`
			Clusters []struct {
				Name string `yaml:"name"`
			} `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	b, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	clusters := map[string]bool{}
	for _, c := range doc.StaticResources.Clusters {
		clusters[c.Name] = true
	}
	found := 0
	for _, l := range doc.StaticResources.Listeners {
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				hf := f.TypedConfig.HTTPFilters
				if len(hf) == 0 || hf[len(hf)-1].Name != "envoy.filters.http.router" {
					t.Fatalf("the router must be the last HTTP filter: %+v", hf)
				}
				for _, h := range hf[:len(hf)-1] {
					c := h.TypedConfig.Config
					if h.TypedConfig.Type != "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm" ||
						c.VMConfig.Runtime != "envoy.wasm.runtime.v8" || c.VMConfig.Code.Local.Filename == "" ||
						c.Configuration.Type != "type.googleapis.com/google.protobuf.StringValue" {
						t.Fatalf("wasm filter %s is not what Envoy expects: %+v", h.Name, h.TypedConfig)
					}
					cfg := parse(t, []byte(c.Configuration.Value))
					if !clusters[cfg.ControlPlane.Cluster] {
						t.Fatalf("the plugin fetches from cluster %q, which envoy.yaml does not define", cfg.ControlPlane.Cluster)
					}
					found++
				}
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d keyplane filters, want 1", found)
	}
}

func TestIstioWasmPlugin(t *testing.T) {
	var doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			URL          string         `yaml:"url"`
			Phase        string         `yaml:"phase"`
			FailStrategy string         `yaml:"failStrategy"`
			PluginConfig map[string]any `yaml:"pluginConfig"`
		} `yaml:"spec"`
	}
	b, err := os.ReadFile("../istio/wasmplugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.APIVersion != "extensions.istio.io/v1alpha1" || doc.Kind != "WasmPlugin" || doc.Spec.URL == "" ||
		doc.Spec.Phase != "AUTHN" || doc.Spec.FailStrategy != "FAIL_CLOSE" {
		t.Fatalf("not a WasmPlugin Istio accepts: %+v", doc)
	}
	// Istio hands pluginConfig to the module as JSON.
	js, err := json.Marshal(doc.Spec.PluginConfig)
	if err != nil {
		t.Fatal(err)
	}
	parse(t, js)
}

func parse(t *testing.T, doc []byte) verifier.Config {
	t.Helper()
	cfg, err := verifier.ParseConfig(doc)
	if err != nil {
		t.Fatalf("the module would refuse its configuration: %v", err)
	}
	if cfg.ControlPlane.Cluster == "" || len(cfg.SigningKeys) == 0 || len(cfg.Routes) == 0 {
		t.Fatalf("the module needs control_plane, signing_keys and routes: %+v", cfg)
	}
	return cfg
}
