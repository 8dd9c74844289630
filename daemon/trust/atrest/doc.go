// Package atrest encrypts the sensitive records of the agent's state.db:
// Secrets, API token hashes and the cluster's own keys (the CA's private
// key, the join secret, the gossip keyring). It follows Kubernetes'
// EncryptionConfiguration model: new writes use the first key of a local
// keyring, reads try every key, and a rotation adds a key, rewrites every
// sensitive record with it, then drops the old ones. The keys live in
// <data-dir>/identity/storage-keys.json (mode 0600), apart from state.db,
// so a copy of state.db alone (a backup, a disk image) reveals none of
// those values.
package atrest
