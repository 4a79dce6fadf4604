package main

import (
	"strings"
	"testing"
)

func TestTLSOptions(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZg==" // 16 bytes
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want []string // substrings of the error; none: valid
	}{
		{args: nil},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem", "--gossip-key", key}},
		{args: []string{"--tls-cert", "c.pem"}, want: []string{"--tls-key, --tls-ca missing"}},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, env: map[string]string{"PRISMD_GOSSIP_KEY": key}, want: []string{"--tls-ca missing"}},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem"}, want: []string{"TLS needs --gossip-key"}},
		{args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem", "--gossip-key", key, "--cluster-name", "My Cluster"},
			want: []string{"--cluster-name with TLS"}},
		// The environment sets them as well as flags do.
		{env: map[string]string{"PRISMD_TLS_CERT": "c.pem", "PRISMD_TLS_KEY": "k.pem", "PRISMD_TLS_CA": "ca.pem", "PRISMD_GOSSIP_KEY": key}},
		{env: map[string]string{"PRISMD_TLS_CERT": "c.pem"}, want: []string{"--tls-key, --tls-ca missing"}},
	} {
		o, err := parseOptions(tc.args, env(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cfg, err := o.serverConfig()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%v %v: %v", tc.args, tc.env, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %v lacks %q", tc.args, tc.env, err, w)
			}
		}
		_ = cfg
	}
	// And the config file.
	file := writeConfig(t, "tls-cert: c.pem\ntls-key: k.pem\ntls-ca: ca.pem\ngossip-key: "+key+"\n")
	o, err := parseOptions([]string{"--config", file}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.serverConfig()
	if err != nil || cfg.TLS.Cert != "c.pem" || cfg.TLS.Key != "k.pem" || cfg.TLS.CA != "ca.pem" {
		t.Fatalf("config file: %+v %v", cfg.TLS, err)
	}
}

func TestACLOptions(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZg=="
	for _, tc := range []struct {
		args []string
		want string // substring of the error; "": valid
	}{
		{args: []string{"--acl", "--gossip-key", key, "--audit-log", "/tmp/audit.log"}},
		{args: []string{"--acl", "--dev"}},
		{args: []string{"--acl"}, want: "--acl needs --gossip-key"},
		{args: []string{"--metrics-open"}, want: "--metrics-open needs --acl"},
	} {
		o, err := parseOptions(tc.args, env(nil))
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cfg, err := o.serverConfig()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v lacks %q", tc.args, err, tc.want)
		case tc.want == "" && !cfg.RPC.ACL:
			t.Errorf("%v: ACL off", tc.args)
		}
	}
}
