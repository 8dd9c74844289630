package integration

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	bolt "go.etcd.io/bbolt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
)

// gossipStats reads the agent's replication counters and gossip address.
func gossipStats(t *testing.T, a *agent) (addr string, stats map[string]int64) {
	t.Helper()
	return agentGossip(t, a.httpClient(t, ""), a.url())
}

// assertNothingRefused checks that no agent of a cluster refused anything
// its peers sent: validation never refuses the cluster's own writes.
// (unknownSenders may count states and announces of a member that died
// meanwhile.)
func assertNothingRefused(t *testing.T, c *cluster) {
	t.Helper()
	for _, h := range c.hosts {
		_, s := agentGossip(t, h.httpClient(t), h.url)
		if s["refused"] != 0 {
			t.Errorf("%s refused what its peers sent: %v", h.name, s)
		}
	}
}

// agentGossip reads an agent's replication counters and gossip address
// (the one raw HTTP helper of this file).
func agentGossip(t *testing.T, hc *http.Client, url string) (addr string, stats map[string]int64) {
	t.Helper()
	resp, err := hc.Get(url + "/shoal/v1/agent")
	if err != nil {
		t.Fatalf("agent info: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(body)
	var info struct {
		GossipAddress string           `json:"gossipAddress"`
		Gossip        map[string]int64 `json:"gossip"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("agent info %q: %v", out, err)
	}
	return info.GossipAddress, info.Gossip
}

// sendAsInsider sends memberlist user messages to an agent's gossip
// address as a member could: gossip is encrypted, so the test first
// installs a key of its own in the agent's keyring (through the API, as an
// administrator can) and sends with it. What follows is thus what a member
// of the cluster, or someone holding its key, could send.
func sendAsInsider(t *testing.T, a *agent, addr string, msgs ...[]byte) {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(raw)
	sum := sha256.Sum256(raw)
	id := hex.EncodeToString(sum[:])[:12]
	a.shoal("keys", "install", key)
	poll.Until(t, 10*time.Second, "the test's key installed", func() error {
		if out := a.shoal("keys", "list"); !regexp.MustCompile(`(?m)^` + id + `\s+1/1`).MatchString(out) {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	conf := memberlist.DefaultLocalConfig()
	conf.Name, conf.BindAddr, conf.BindPort, conf.AdvertisePort = "insider", "127.0.0.1", 0, 0
	conf.Label = "shoal"
	conf.Logger = log.New(io.Discard, "", 0)
	kr, err := memberlist.NewKeyring(nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	conf.Keyring = kr
	ml, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	to := &memberlist.Node{Name: "target", Addr: net.ParseIP(host), Port: uint16(p)}
	for _, m := range msgs {
		if err := ml.SendBestEffort(to, m); err != nil {
			t.Fatal(err)
		}
	}
}

func recordMsg(t *testing.T, r *gossip.Record) []byte {
	t.Helper()
	return gossip.EncodeRecordMessage(r)
}

func announceMsg(key string, v gossip.Version, from string) []byte {
	return gossip.EncodeAnnounce(key, v, 0, from)
}

// The review's gossip attacks against a real agent: a pod bound to it
// whose uid is a path out of its data dir, a pod named ../../x, a record
// stamped 2^64-1, an announce naming the attacker's URL. Nothing is
// stored or served, no directory appears outside the data dir, and the
// agent keeps working.
func TestGossipAttacksOnAnAgentAreRefused(t *testing.T) {
	a := startAgent(t)
	addr, before := gossipStats(t, a)
	victim := "victimdir-" + randomSuffix()
	outside := filepath.Join(filepath.Dir(a.dataDir), victim)
	t.Cleanup(func() { os.RemoveAll(outside) })
	now := uint64(time.Now().UnixMilli()) << 16
	v := gossip.Version{Time: now, Node: "h9"}
	pod := func(name, uid string) []byte {
		b, _ := json.Marshal(&api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: uid},
			Spec:       api.PodSpec{NodeName: a.name, Containers: []api.Container{{Name: "c", Image: testImage}}}})
		return b
	}
	const uid = "0b8e5c9a-3f6d-4e2b-9a1c-7d5e3f2a1b0c"
	sendAsInsider(t, a, addr,
		recordMsg(t, &gossip.Record{Key: "o/pods/default/victim", Version: v, Value: pod("victim", "../../"+victim)}),
		recordMsg(t, &gossip.Record{Key: "o/pods/default/../../x", Version: v, Value: pod("../../x", uid)}),
		recordMsg(t, &gossip.Record{Key: "o/pods/default/x", Version: v, Value: pod("../../x", uid)}),
		recordMsg(t, &gossip.Record{Key: "o/pods/default/forever", Version: gossip.Version{Time: math.MaxUint64, Node: "h9"}, Value: pod("forever", uid)}),
		announceMsg("o/secrets/default/db", v, "http://127.0.0.1:9/"),
	)
	poll.Until(t, 10*time.Second, "the attacks counted", func() error {
		_, s := gossipStats(t, a)
		if s["refused"]-before["refused"] < 4 || s["unknownSenders"]-before["unknownSenders"] < 1 {
			return fmt.Errorf("counters %v", s)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // the runner would have acted on a stored pod by now
	pods := a.pods(t, "default", "")
	if len(pods) != 0 {
		t.Fatalf("gossiped pods are served: %v", pods[0].Name)
	}
	if _, err := os.Stat(outside); !os.IsNotExist(err) {
		t.Fatalf("a directory appeared outside the data dir: %s (%v)", outside, err)
	}
	if _, err := a.client.Create(ctx(t), api.KindConfigMap, "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "after", Namespace: "default"}}); err != nil {
		t.Fatalf("the agent stopped taking writes: %v", err)
	}
}

// A record in state.db stamped an hour ahead of this host's clock (the
// clock was set back, or the record was forged): the agent refuses to
// start and says what to do; with --drop-future-records it deletes the
// record and starts.
func TestAgentRefusesToStartWithFutureRecords(t *testing.T) {
	a := startAgent(t)
	a.stop(syscall.SIGTERM)
	db, err := bolt.Open(filepath.Join(a.dataDir, "state.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ahead := &gossip.Record{Key: "o/configmaps/default/ahead",
		Version: gossip.Version{Time: uint64(time.Now().Add(time.Hour).UnixMilli()) << 16, Node: "h9"},
		Value:   []byte(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"ahead","namespace":"default","uid":"0b8e5c9a-3f6d-4e2b-9a1c-7d5e3f2a1b0c"}}`)}
	enc, _ := ahead.MarshalBinary()
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("records")).Put([]byte(ahead.Key), enc) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shoalBin(t), "agent", "--name", a.name, "--data-dir", a.dataDir,
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", a.port), "--bind", "127.0.0.1:0", "--ingress-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0")
	out, err := runWithTimeout(cmd, 30*time.Second)
	if err == nil {
		t.Fatalf("the agent started (or kept running) with a record an hour ahead:\n%s", out)
	}
	for _, want := range []string{"o/configmaps/default/ahead", "h9", "--drop-future-records", "NTP"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the error does not mention %s:\n%s", want, out)
		}
	}
	a.extra = append(a.extra, "--drop-future-records")
	a.start()
	if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", "ahead"); !api.IsNotFound(err) {
		t.Fatalf("the future record is served after --drop-future-records: %v", err)
	}
}
