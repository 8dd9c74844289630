package api

// Bodies of shoal's own cluster-identity endpoints under /shoal/v1/ (join
// tokens, gossip keys, the cluster CA). Only cluster administrators reach
// them.

// JoinTokenInfo is the answer of /shoal/v1/join-token.
type JoinTokenInfo struct {
	TypeMeta `json:",inline"`
	// Token admits an agent: `shoal agent --join HOST:7481 --join-token TOKEN`.
	Token string `json:"token"`
	// Rotated is when the secret was made.
	Rotated Time `json:"rotated"`
}

// GossipKey is one key of the gossip keyring, by fingerprint.
type GossipKey struct {
	ID string `json:"id"`
	// Primary: the cluster encrypts with this key.
	Primary bool `json:"primary"`
	// InstalledOn and PrimaryOn list the live members that have the key,
	// and that encrypt with it.
	InstalledOn []string `json:"installedOn"`
	PrimaryOn   []string `json:"primaryOn"`
}

// GossipKeyList is the answer of /shoal/v1/keys.
type GossipKeyList struct {
	TypeMeta `json:",inline"`
	Members  []string    `json:"members"` // the live members
	Items    []GossipKey `json:"items"`
}

// GossipKeyRequest installs, uses or removes a key: the key itself
// (base64) or, to use or remove one, its fingerprint.
type GossipKeyRequest struct {
	Key string `json:"key,omitempty"`
	ID  string `json:"id,omitempty"`
}

// CAStatus is the answer of /shoal/v1/ca.
type CAStatus struct {
	TypeMeta   `json:",inline"`
	Generation int    `json:"generation"`
	Current    string `json:"current"` // fingerprint of the CA that signs
	// Trusted are the fingerprints of the roots agents accept: two while a
	// rotation is under way.
	Trusted []string `json:"trusted"`
	// Members says which CA issued each live member's certificate.
	Members []MemberCA `json:"members"`
	// Rotating: not every live member has moved to the current CA yet, or
	// the previous CA is still trusted.
	Rotating bool `json:"rotating"`
}

// MemberCA names the CA of one member's certificate.
type MemberCA struct {
	Name string `json:"name"`
	CA   string `json:"ca"`
}

// StorageEncryption is the answer of /shoal/v1/storage: the key that seals
// an agent's sensitive records in its state.db.
type StorageEncryption struct {
	TypeMeta `json:",inline"`
	Node     string `json:"node"`
	Key      string `json:"key"`
	Created  Time   `json:"created"`
	// Rewritten counts the records a rotation sealed again.
	Rewritten int `json:"rewritten,omitempty"`
}
